// HttpServer: HTTP/1.1 on Boost.Asio and Beast with a small fixed pool of I/O
// threads and keep-alive. Each request is read whole (bounded by
// `max_body_bytes`: over it, 413 before the body is read), handed to the
// handler on the I/O thread, and answered; the handler must not block for long
// (capture hands events to the pipeline's workers and returns).
//
// Bounded against clients that open connections and never close them: at most
// `max_connections` are open at once; one more is answered 503 at once and
// closed (counted in stats()). When accepting fails (the process is out of
// file descriptors, EMFILE), the acceptor waits before trying again, 10 ms
// doubling to 1 s, instead of spinning a core; `on_accept_trouble` hears when
// that starts and when it ends. A HEAD request is answered with its GET's
// headers and no body (RFC 9110 9.3.2).
//
// stop() closes the listening socket and lets requests being read or answered
// finish; wait() returns when every connection is gone and the threads ended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http_exchange.hpp"

namespace posthog::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;  // 0: any free port (see port())
  unsigned io_threads = 2;
  std::size_t max_body_bytes = 20 << 20;
  std::size_t max_header_bytes = 16 << 10;
  std::size_t max_connections = 10'000;
  // Called with a message when accept() starts failing and when it works again.
  std::function<void(const std::string&)> on_accept_trouble;
};

struct HttpServerStats {
  std::uint64_t open_connections = 0;
  std::uint64_t refused_connections = 0;  // over max_connections, answered 503
  std::uint64_t accept_errors = 0;        // accept() failures (EMFILE, ENFILE, ENOBUFS ...)
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(HttpRequest&)>;

  // Binds and starts serving; throws std::runtime_error naming the address when
  // it cannot listen.
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const noexcept;
  HttpServerStats stats() const noexcept;
  void stop();  // thread-safe, idempotent
  void wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace posthog::server
