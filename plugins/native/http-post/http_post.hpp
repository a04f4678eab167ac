// post_json: one HTTP POST of a JSON body, failing the way an export plugin
// should fail in PostHog's plugin server.
//
//   - 2xx and 3xx: done;
//   - 429, 5xx, a connection refused, reset or timed out: posthog::RetryError,
//     so the server hands the same batch over again later;
//   - any other 4xx: std::runtime_error, logged with the batch and not retried
//     (sending the same request again would be refused the same way).
// Messages name the URL and quote the start of the answer.
//
//   auto target = HttpEndpoint::parse(team.config.string("url"), "url");
//   post_json(target, body, {std::chrono::seconds(10), {{"X-Token", "..."}}});
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace posthog::plugins {

struct HttpEndpoint {
  std::string origin;  // scheme://host[:port]
  std::string path;    // starts with '/'
  std::string url() const { return origin + path; }

  // Throws ConfigError(field) unless `url` is http(s)://host[:port][/path].
  // Without a scheme, `default_scheme` is assumed (if given).
  static HttpEndpoint parse(std::string_view url, const std::string& field, std::string_view default_scheme = {});
};

struct HttpPostOptions {
  std::chrono::seconds timeout{10};  // to connect, and to read the answer
  std::vector<std::pair<std::string, std::string>> headers;
};

void post_json(const HttpEndpoint& target, const std::string& body, const HttpPostOptions& options);

}  // namespace posthog::plugins
