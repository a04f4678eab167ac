// What serve mode's two ports share, whichever process owns them (a server
// running its own chains, or the supervisor of worker processes).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "http/http_exchange.hpp"
#include "http/http_server.hpp"
#include "sources/capture_endpoint.hpp"

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

struct ServeSettings;
class FdWriter;

CaptureLimits capture_limits(const ServeSettings& settings);

// The capture port: where and how it listens, its connection cap fitted to
// the descriptor limit with `reserve` descriptors kept for everything else
// the process opens (a line on `err` when that lowered the cap).
HttpServerOptions capture_port_options(const ServeSettings& settings, std::size_t reserve, FdWriter& err);

// The admin port: its connections, and bodies as large as an attachment upload.
HttpServerOptions admin_port_options(const ServeSettings& settings, unsigned io_threads, FdWriter& err);

// The capture port's routes: PostHog's capture API (404 on a server that
// does not capture) and the probes.
// Stops taking connections and waits for the answers to what was read; a null
// port (one that never opened) is nothing to close.
void close_port(HttpServer* port);

HttpServer::Handler capture_routes(CaptureEndpoint& capture, std::function<bool()> capturing,
                                   std::function<boost::json::object()> readiness);

}  // namespace posthog::server
