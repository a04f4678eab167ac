// The second server file that includes cpp-httplib (the forward sink's is the
// first): the admin port's forwarding to the worker process.
#include "admin_proxy.hpp"

#include <httplib.h>

#include <boost/json/serialize.hpp>

#include "http/bearer_token.hpp"
#include "sources/capture_endpoint.hpp"

namespace posthog::server {
namespace {

bool hop_by_hop(std::string_view name) {
  return name == "host" || name == "content-length" || name == "connection" || name == "keep-alive" ||
         name == "transfer-encoding" || name == "te" || name == "upgrade" || name == "proxy-connection";
}

HttpResponse restarting() {
  auto r = json_error(503, "worker_restarting",
                      "the worker process that runs the plugins is restarting; events are still captured, "
                      "try the admin API again in a moment");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

}  // namespace

bool AdminProxy::forward(const HttpRequest& request, std::uint16_t port, HttpResponse& answer) const {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(2));
  client.set_read_timeout(std::chrono::seconds(300));  // a reload sets a plugin up for every team
  client.set_write_timeout(std::chrono::seconds(30));
  client.set_keep_alive(false);
  client.set_decompress(false);  // bytes as the worker sent them
  httplib::Request out;
  out.method = request.method;
  out.path = request.path + (request.query.empty() ? "" : "?" + request.query);
  for (auto const& [name, value] : request.headers)
    if (!hop_by_hop(name)) out.headers.emplace(name, value);
  out.body = request.body;
  if (!request.body.empty() && !out.has_header("content-type")) out.set_header("Content-Type", "application/octet-stream");
  auto const result = client.send(out);
  if (!result) return false;
  answer.status = result->status;
  answer.body = result->body;
  answer.content_type = result->get_header_value("Content-Type");
  for (auto const& [name, value] : result->headers) {
    std::string lower(name);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!hop_by_hop(lower) && lower != "content-type") answer.headers.emplace_back(name, value);
  }
  return true;
}

HttpResponse AdminProxy::handle(const HttpRequest& request) const {
  bool const get = request.method == "GET" || request.method == "HEAD";
  if (get && request.path == "/api/isolation") {
    if (!bearer_matches(request, token_)) return json_error(401, "unauthorized", "the admin API needs its token");
    HttpResponse r;
    r.body = boost::json::serialize(isolation_());
    return r;
  }
  auto const port = worker_port_();
  HttpResponse answer;
  bool const reached = port != 0 && forward(request, port, answer);
  if (get && request.path == "/metrics") {
    if (reached && answer.status != 200) return answer;  // unauthorized, say
    if (!reached && !bearer_matches(request, token_)) return json_error(401, "unauthorized", "the admin API needs its token");
    if (!reached) {
      answer = HttpResponse();
      answer.content_type = "text/plain; version=0.0.4";
    }
    render_own_metrics_(answer.body);
    return answer;
  }
  if (!reached) return restarting();
  if (!get && request.method != "OPTIONS" && answer.status < 300 && changed_) changed_(request);
  return answer;
}

}  // namespace posthog::server
