#include "capture_endpoint.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "capture/body_decoder.hpp"

namespace posthog::server {
namespace {

std::string_view first_of_list(std::string_view list) {
  auto item = list.substr(0, list.find(','));
  while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
  while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
  return item;
}

// Browsers send events cross-origin: mirror the origin, allow credentials and
// the content-type header, and let the library read Retry-After.
void add_cors(const HttpRequest& request, HttpResponse& response) {
  auto const origin = request.header("origin");
  response.headers.emplace_back("Access-Control-Allow-Origin", origin.empty() ? "*" : std::string(origin));
  if (!origin.empty()) response.headers.emplace_back("Access-Control-Allow-Credentials", "true");
  response.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  auto const asked = request.header("access-control-request-headers");
  response.headers.emplace_back("Access-Control-Allow-Headers", asked.empty() ? "content-type" : std::string(asked));
  response.headers.emplace_back("Access-Control-Expose-Headers", "Retry-After");
  response.headers.emplace_back("Vary", "Origin");
}

}  // namespace

HttpResponse json_error(int status, std::string_view code, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = boost::json::serialize(
      boost::json::object{{"status", 0}, {"code", code}, {"error", message}});
  return r;
}

bool CaptureEndpoint::serves(std::string_view path) noexcept {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path == "/e" || path == "/capture" || path == "/batch" || path == "/i/v0/e" || path == "/track" ||
         path == "/engage";
}

std::string CaptureEndpoint::client_ip(const HttpRequest& request) const {
  bool trusted = false;
  for (auto const& proxy : limits_.trusted_proxies) trusted = trusted || proxy == request.peer;
  if (trusted) {
    if (auto xff = first_of_list(request.header("x-forwarded-for")); !xff.empty()) return std::string(xff);
    if (auto real = request.header("x-real-ip"); !real.empty()) return std::string(real);
  }
  return request.peer;
}

HttpResponse CaptureEndpoint::handle(const HttpRequest& request) const {
  HttpResponse response;
  if (request.method == "OPTIONS") {
    response.status = 204;
    add_cors(request, response);
    return response;
  }
  if (request.method != "POST" && request.method != "GET") {
    response = json_error(405, "method_not_allowed", "capture takes POST, GET ?data= or OPTIONS");
    add_cors(request, response);
    return response;
  }
  auto unavailable = [this](std::atomic<std::uint64_t>& counter, std::string_view code, const std::string& why) {
    counter.fetch_add(1, std::memory_order_relaxed);
    HttpResponse r = json_error(503, code,
                                why + "; nothing was taken, retry after " + std::to_string(limits_.retry_after_seconds) +
                                    " s");
    r.headers.emplace_back("Retry-After", std::to_string(limits_.retry_after_seconds));
    return r;
  };
  // Full already: answer before spending a decode and a scan on events that
  // could not be taken anyway (what keeps an overloaded server's CPU for work).
  if (log_.refusing()) {
    response = unavailable(refused_busy_, "saturated", "the server is at capacity (its event log is full)");
    add_cors(request, response);
    return response;
  }
  try {
    auto const decoded = decode_capture_body({request.method, request.header("content-type"),
                                              request.header("content-encoding"), request.query, request.body},
                                             limits_.max_decoded_bytes);
    CaptureContext context;
    context.limits = limits_.payload;
    context.partitions = log_.partitions();
    context.ip = client_ip(request);
    auto const host = request.header("host");
    context.site_url = host.empty() ? std::string() : "http://" + std::string(host);
    context.query = request.query;
    auto captured = read_capture_payload(decoded.text(), context, resolve_);
    boost::json::object ok{{"status", 1}};
    if (!captured.rejected.empty()) {
      // Listed up to a bound: the answer to a batch of bad elements stays
      // small whatever the batch (each element is counted, not echoed).
      boost::json::array rejected;
      auto const listed = std::min(captured.rejected.size(), listed_rejections);
      for (std::size_t i = 0; i < listed; ++i)
        rejected.push_back(boost::json::object{{"index", captured.rejected[i].index},
                                               {"error", captured.rejected[i].message}});
      ok["rejected"] = std::move(rejected);
      if (captured.rejected.size() > listed) ok["rejected_not_listed"] = captured.rejected.size() - listed;
    }
    response.body = boost::json::serialize(ok);
    add_cors(request, response);
    // The answer once the log has the events (as durable as serve.log.fsync
    // says): the connection's thread serves others meanwhile, so concurrent
    // requests share one fsync.
    response.deferred = [this, records = std::move(captured.records), ok = response,
                         unavailable](std::function<void(HttpResponse)> answer) mutable {
      auto refused = [&](HttpResponse r) {
        r.headers.insert(r.headers.end(), ok.headers.begin(), ok.headers.end());  // CORS
        answer(std::move(r));
      };
      try {
        log_.append(records, [this, ok, answer, unavailable](std::string_view failure) mutable {
          if (failure.empty()) return answer(std::move(ok));
          HttpResponse r = unavailable(refused_unavailable_, "log_unavailable",
                                       "events cannot be kept now: " + std::string(failure));
          r.headers.insert(r.headers.end(), ok.headers.begin(), ok.headers.end());
          answer(std::move(r));
        });
      } catch (const LogFull& e) {
        refused(unavailable(refused_busy_, "saturated", std::string("the server is at capacity: ") + e.what()));
      } catch (const LogUnavailable& e) {
        refused(unavailable(refused_unavailable_, "log_unavailable", std::string("events cannot be kept now: ") + e.what()));
      }
    };
    return response;
  } catch (const CaptureError& e) {
    response = json_error(e.status(), e.code(), e.what());
  }
  add_cors(request, response);
  return response;
}

}  // namespace posthog::server
