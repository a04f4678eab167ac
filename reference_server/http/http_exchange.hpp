// HttpRequest / HttpResponse: what the HTTP layer hands to a handler and takes
// back, free of Boost.Beast types so that handlers (capture, health, admin)
// compile without Beast's heavy headers; only http_server.cpp includes them.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace posthog::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", "OPTIONS" ...
  std::string path;    // without the query
  std::string query;   // without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string peer;  // the socket's remote address

  std::string_view header(std::string_view lower_name) const noexcept {
    for (auto const& [name, value] : headers)
      if (name == lower_name) return value;
    return {};
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set when the answer is not known yet (capture waits for the event log's
  // fsync): the server calls it with a function to hand the answer to, from
  // any thread, and serves its other connections meanwhile. The fields above
  // are then ignored.
  std::function<void(std::function<void(HttpResponse)> answer)> deferred;
};

}  // namespace posthog::server
