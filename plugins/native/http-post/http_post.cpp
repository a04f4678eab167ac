#include "http_post.hpp"

#include <httplib.h>
#include <posthog/errors.hpp>

#include <stdexcept>

namespace posthog::plugins {

HttpEndpoint HttpEndpoint::parse(std::string_view url, const std::string& field, std::string_view default_scheme) {
  std::string text(url);
  while (!text.empty() && text.back() == ' ') text.pop_back();
  if (text.find("://") == std::string::npos && !default_scheme.empty()) text = std::string(default_scheme) + "://" + text;
  auto const scheme_end = text.find("://");
  std::string const scheme = scheme_end == std::string::npos ? "" : text.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https")
    throw posthog::ConfigError(field, "must be an http:// or https:// URL, not '" + std::string(url) + "'");
  auto const host_start = scheme_end + 3;
  auto const path_start = text.find('/', host_start);
  HttpEndpoint e;
  e.origin = text.substr(0, path_start);
  e.path = path_start == std::string::npos ? "/" : text.substr(path_start);
  if (e.origin.size() == host_start) throw posthog::ConfigError(field, "has no host: '" + std::string(url) + "'");
  return e;
}

void post_json(const HttpEndpoint& target, const std::string& body, const HttpPostOptions& options) {
  httplib::Client client(target.origin);
  auto const seconds = static_cast<time_t>(options.timeout.count());
  client.set_connection_timeout(seconds, 0);
  client.set_read_timeout(seconds, 0);
  client.set_write_timeout(seconds, 0);
  httplib::Headers headers;
  for (auto const& [name, value] : options.headers) headers.emplace(name, value);
  auto result = client.Post(target.path, headers, body, "application/json");
  if (!result)
    throw posthog::RetryError("POST " + target.url() + " failed: " + httplib::to_string(result.error()));
  int const status = result->status;
  if (status < 400) return;
  std::string answer = result->body.substr(0, 200);
  std::string const what = "POST " + target.url() + " answered " + std::to_string(status) + (answer.empty() ? "" : ": " + answer);
  if (status == 429 || status >= 500) throw posthog::RetryError(what);
  throw std::runtime_error(what + " (not retried: the same request would be refused again)");
}

}  // namespace posthog::plugins
