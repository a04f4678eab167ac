#include "serve_ports.hpp"

#include "config/serve_settings.hpp"
#include "http/descriptor_limit.hpp"
#include "sinks/fd_writer.hpp"
#include "stores/plugin_attachments.hpp"
#include "diagnostics.hpp"

namespace posthog::server {
namespace {

std::function<void(const std::string&)> accept_trouble(FdWriter& err, const char* port) {
  return [&err, port](const std::string& message) {
    err.write(diagnostic_line({{"type", "accept_error"}, {"port", port}, {"message", message}}));
  };
}

}  // namespace

CaptureLimits capture_limits(const ServeSettings& settings) {
  CaptureLimits limits;
  limits.max_decoded_bytes = settings.max_decoded_bytes;
  limits.payload.max_events = settings.max_batch_events;
  limits.payload.max_depth = settings.max_json_depth;
  limits.retry_after_seconds = settings.retry_after_seconds;
  limits.trusted_proxies = settings.trusted_proxies;
  return limits;
}

HttpServerOptions capture_port_options(const ServeSettings& settings, std::size_t reserve, FdWriter& err) {
  HttpServerOptions http;
  http.host = settings.host;
  http.port = settings.port;
  http.io_threads = settings.io_threads;
  http.max_body_bytes = settings.max_body_bytes;
  std::size_t const descriptors = raise_descriptor_limit();
  reserve += admin_connections + settings.redis_pool_size;
  http.max_connections = connection_cap(settings.max_connections, descriptors, reserve);
  if (http.max_connections < settings.max_connections)
    err.write(diagnostic_line({{"type", "connection_cap"},
                               {"max_connections", http.max_connections},
                               {"message", "serve.max_connections lowered to fit the file descriptor limit (" +
                                               std::to_string(descriptors) + ", " + std::to_string(reserve) +
                                               " kept for the admin port, the store, the sink, Redis and plugins); "
                                               "raise it with ulimit -n"}}));
  http.on_accept_trouble = accept_trouble(err, "capture");
  return http;
}

HttpServerOptions admin_port_options(const ServeSettings& settings, unsigned io_threads, FdWriter& err) {
  HttpServerOptions admin;
  admin.host = settings.admin_host;
  admin.port = settings.admin_port;
  admin.io_threads = io_threads;
  admin.max_body_bytes = PluginAttachments::max_bytes + (64 << 10);  // an attachment upload
  admin.max_connections = admin_connections;
  admin.on_accept_trouble = accept_trouble(err, "admin");
  return admin;
}

void close_port(HttpServer* port) {
  if (!port) return;
  port->stop();
  port->wait();
}

HttpServer::Handler capture_routes(CaptureEndpoint& capture, std::function<bool()> capturing,
                                   std::function<boost::json::object()> readiness) {
  return [&capture, capturing = std::move(capturing), readiness = std::move(readiness)](HttpRequest& request) {
    if (CaptureEndpoint::serves(request.path)) {
      if (!capturing())
        return json_error(404, "not_capturing", "this server is a worker (serve.role); send events to a capture server");
      return capture.handle(request);
    }
    if (request.path == "/_health") return json_ok({{"status", "ok"}});
    if (request.path == "/_ready") {
      auto r = readiness();
      return json_ok(r, r["ready"].as_bool() ? 200 : 503);
    }
    return json_error(404, "not_found", "no such endpoint: " + request.path);
  };
}

}  // namespace posthog::server
