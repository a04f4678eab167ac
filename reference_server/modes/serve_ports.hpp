// What serve mode's two ports share, whichever process owns them (a server
// running its own chains, or the supervisor of worker processes).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "http/http_exchange.hpp"

namespace posthog::server {

// Connections the admin port takes at most.
constexpr std::size_t admin_connections = 64;

// http://host:port, with an IPv6 host in brackets.
inline std::string url_of(const std::string& host, std::uint16_t port) {
  return "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

inline HttpResponse json_ok(const boost::json::object& body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = boost::json::serialize(body);
  return r;
}

}  // namespace posthog::server
