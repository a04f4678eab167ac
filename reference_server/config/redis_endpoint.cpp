#include "redis_endpoint.hpp"

#include <charconv>

namespace posthog::server {

namespace {

// The URL itself is never quoted in an error: it may carry a password.
int number(std::string_view text, int low, int high, const char* what) {
  int value = 0;
  auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < low || value > high)
    throw RedisUrlError(std::string("Redis URL: ") + what + " must be a number from " + std::to_string(low) + " to " +
                        std::to_string(high));  // not quoted: query strings may carry a password
  return value;
}

}  // namespace

RedisEndpoint RedisEndpoint::parse(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  if (url.substr(0, scheme.size()) != scheme)
    throw RedisUrlError("Redis URL must start with redis:// (rediss:// and unix sockets are not supported)");
  RedisEndpoint e;
  std::string_view rest = url.substr(scheme.size());
  if (auto const at = rest.rfind('@'); at != std::string_view::npos) {
    auto const credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto const colon = credentials.find(':');
    if (colon == std::string_view::npos) {
      e.password = std::string(credentials);  // redis://secret@host, as some clients accept
    } else {
      e.username = std::string(credentials.substr(0, colon));
      e.password = std::string(credentials.substr(colon + 1));
    }
  }
  std::string_view hostport = rest;
  if (auto const slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    auto const db = rest.substr(slash + 1);
    if (!db.empty()) e.db = number(db, 0, 1'000'000, "the database (after '/')");
  }
  if (hostport.empty()) throw RedisUrlError("Redis URL has no host");
  if (hostport.front() == '[') {  // [::1]:6379
    auto const close = hostport.find(']');
    if (close == std::string_view::npos) throw RedisUrlError("Redis URL: an IPv6 host needs its closing ']'");
    e.host = std::string(hostport.substr(1, close - 1));
    hostport = hostport.substr(close + 1);
    if (!hostport.empty()) {
      if (hostport.front() != ':') throw RedisUrlError("Redis URL: expected ':port' after the IPv6 host");
      e.port = number(hostport.substr(1), 1, 65535, "the port");
    }
  } else if (auto const colon = hostport.rfind(':'); colon != std::string_view::npos) {
    e.host = std::string(hostport.substr(0, colon));
    e.port = number(hostport.substr(colon + 1), 1, 65535, "the port");
  } else {
    e.host = std::string(hostport);
  }
  if (e.host.empty()) throw RedisUrlError("Redis URL has no host");
  return e;
}

std::string RedisEndpoint::describe() const {
  auto const h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "redis://" + h + ":" + std::to_string(port) + "/" + std::to_string(db);
}

}  // namespace posthog::server
