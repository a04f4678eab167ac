// The only file that includes Boost.Beast.
#include "http_server.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <sys/socket.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

namespace posthog::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

HttpResponse plain_error(int status, std::string message) {
  HttpResponse r;
  r.status = status;
  r.body = "{\"status\":0,\"code\":\"" + std::string(status == 413 ? "too_large" : "bad_request") +
           "\",\"error\":\"" + message + "\"}";
  return r;
}

constexpr std::size_t read_buffer_bytes = 32 * 1024;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServer::Handler& handler, const HttpServerOptions& options,
          std::atomic<int>& live, const std::atomic<bool>& stopping)
      : stream_(std::move(socket)), handler_(handler), options_(options), live_(live), stopping_(stopping) {
    ++live_;
    // Beast reads at most what the buffer has room for: a 500-byte buffer
    // means hundreds of recv calls (and timer re-arms) for a 100 KB batch.
    buffer_.reserve(read_buffer_bytes);
  }
  ~Session() { --live_; }

  void start() { read(); }
  asio::any_io_executor executor() { return stream_.get_executor(); }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    stream_.expires_after(std::chrono::seconds(60));  // idle keep-alive and slow clients
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted || ec == beast::error::timeout)
      return close();
    if (ec == http::error::body_limit) {
      return respond(plain_error(413, "the body is over the limit of " + std::to_string(options_.max_body_bytes) +
                                          " bytes"),
                     false, 11);
    }
    if (ec) {
      if (ec == asio::error::eof || ec == asio::error::connection_reset) return close();
      return respond(plain_error(400, "malformed HTTP request: " + ec.message()), false, 11);
    }
    auto& message = parser_->get();
    HttpRequest request;
    request.method = std::string(message.method_string());
    std::string_view target = message.target();
    auto const q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
    for (auto const& field : message) request.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
    request.body = std::move(message.body());
    beast::error_code peer_ec;
    auto const endpoint = stream_.socket().remote_endpoint(peer_ec);
    if (!peer_ec) request.peer = endpoint.address().to_string();
    HttpResponse response;
    try {
      response = handler_(request);
    } catch (const std::exception& e) {
      response = plain_error(500, "internal error");
    }
    bool const keep_alive = message.keep_alive(), head = message.method() == http::verb::head;
    unsigned const version = message.version();
    if (response.deferred) {
      // Answered later, on this connection's own thread; the connection reads
      // nothing more until then.
      auto later = std::move(response.deferred);
      later([self = shared_from_this(), keep_alive, version, head](HttpResponse r) {
        asio::post(self->executor(), [self, r = std::move(r), keep_alive, version, head]() mutable {
          self->respond(std::move(r), keep_alive, version, head);
        });
      });
      return;
    }
    respond(std::move(response), keep_alive, version, head);
  }

  // A HEAD answer has the headers its GET would have, Content-Length
  // included, and no body: a keep-alive client would read one as the next response.
  void respond(HttpResponse r, bool keep_alive, unsigned version, bool head = false) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), version);
    res->set(http::field::server, "posthog-plugin-server");
    res->set(http::field::content_type, r.content_type);
    for (auto const& [name, value] : r.headers) res->set(name, value);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive && !stopping_.load());  // a stopping server closes after answering
    res->prepare_payload();
    if (head) res->body().clear();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      if (ec || !res->keep_alive()) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpServer::Handler& handler_;
  const HttpServerOptions& options_;
  std::atomic<int>& live_;
  const std::atomic<bool>& stopping_;
};

}  // namespace

// One io_context per I/O thread, each connection owned by one of them for its
// whole life: its handlers never run on two threads at once, so it needs no
// strand, and each loop runs with the single-thread hint (no scheduler lock
// contention between I/O threads). The acceptor lives on the first loop and
// deals connections out round robin.
struct HttpServer::Impl {
  // Declared before the io_contexts: sessions still queued in them when they
  // are destroyed use them on their way out.
  HttpServerOptions options;
  Handler handler;
  std::atomic<int> live_sessions{0};
  std::atomic<std::uint64_t> refused_connections{0}, accept_errors{0};
  std::atomic<bool> stopping{false};
  std::atomic<bool> waited{false};
  std::vector<std::unique_ptr<asio::io_context>> loops;
  std::size_t next_loop = 0;  // used by the acceptor's handler only
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::optional<asio::steady_timer> grace;
  std::chrono::steady_clock::time_point grace_deadline;
  std::optional<asio::steady_timer> accept_pause;  // between failed accepts
  std::chrono::milliseconds accept_backoff{0};     // 0: the last accept worked

  asio::io_context& first() { return *loops.front(); }

  // Stops every loop once every connection is gone, or at the deadline.
  void wait_for_sessions() {
    if (live_sessions.load() == 0 || std::chrono::steady_clock::now() >= grace_deadline) {
      work.clear();
      for (auto& loop : loops) loop->stop();
      return;
    }
    grace->expires_after(std::chrono::milliseconds(20));
    grace->async_wait([this](boost::system::error_code) { wait_for_sessions(); });
  }

  void accept() {
    auto& loop = *loops[next_loop];
    next_loop = (next_loop + 1) % loops.size();
    acceptor->async_accept(loop, [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
      if (ec) return pause_accepting(ec);
      if (accept_backoff.count() != 0) {
        accept_backoff = std::chrono::milliseconds(0);
        if (options.on_accept_trouble) options.on_accept_trouble("accepting connections again");
      }
      if (static_cast<std::size_t>(live_sessions.load()) >= options.max_connections) {
        refuse(socket);
      } else {
        socket.set_option(tcp::no_delay(true));
        // Started on the connection's own loop, where all its handlers run.
        auto session = std::make_shared<Session>(std::move(socket), handler, options, live_sessions, stopping);
        asio::post(session->executor(), [session] { session->start(); });
      }
      accept();
    });
  }

  // accept() failed: out of descriptors or buffers, or the peer gave up
  // before it was taken. Retrying at once would spin a core on EMFILE while
  // the backlog waits; a pause lets connections close and descriptors free up.
  void pause_accepting(const beast::error_code& ec) {
    ++accept_errors;
    bool const starting = accept_backoff.count() == 0;
    accept_backoff = starting ? std::chrono::milliseconds(10) : std::min(accept_backoff * 2, std::chrono::milliseconds(1000));
    if (starting && options.on_accept_trouble)
      options.on_accept_trouble("accept failed (" + ec.message() + "); trying again after a pause, up to 1 s");
    accept_pause->expires_after(accept_backoff);
    accept_pause->async_wait([this](boost::system::error_code wait_ec) {
      if (!wait_ec && acceptor->is_open()) accept();
    });
  }

  // Over the connection cap: a short 503 written straight into the new
  // socket's empty send buffer (it cannot block), then closed. What the client
  // already sent is read first, so that closing does not turn into a reset
  // that could discard the answer.
  void refuse(tcp::socket& socket) {
    ++refused_connections;
    static std::string const answer = [] {
      std::string const body =
          R"({"status":0,"code":"too_many_connections","error":"the server is at its connection limit; retry later"})";
      return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
             "Connection: close\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body;
    }();
    int const fd = socket.native_handle();
    char drain[4096];
    for (int i = 0; i < 16 && ::recv(fd, drain, sizeof drain, MSG_DONTWAIT) > 0; ++i) {
    }
    [[maybe_unused]] auto const sent = ::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    beast::error_code ignored;  // a client already gone: nothing to tell it
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
  }
};

HttpServer::HttpServer(HttpServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  unsigned const n = std::max(1u, impl_->options.io_threads);
  for (unsigned i = 0; i < n; ++i) impl_->loops.push_back(std::make_unique<asio::io_context>(1));
  impl_->acceptor.emplace(impl_->first());
  impl_->grace.emplace(impl_->first());
  impl_->accept_pause.emplace(impl_->first());
  auto& a = *impl_->acceptor;
  boost::system::error_code ec;
  auto const address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) throw std::runtime_error("cannot listen on '" + impl_->options.host + "': not an IP address");
  tcp::endpoint endpoint(address, impl_->options.port);
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + impl_->options.host + ":" + std::to_string(impl_->options.port) +
                             ": " + ec.message());
  for (auto& loop : impl_->loops) impl_->work.push_back(asio::make_work_guard(*loop));
  impl_->accept();
  for (auto& loop : impl_->loops) impl_->threads.emplace_back([&io = *loop] { io.run(); });
}

HttpServer::~HttpServer() {
  stop();
  wait();
}

std::uint16_t HttpServer::port() const noexcept {
  boost::system::error_code ec;
  auto const endpoint = impl_->acceptor->local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

HttpServerStats HttpServer::stats() const noexcept {
  return {static_cast<std::uint64_t>(std::max(0, impl_->live_sessions.load())), impl_->refused_connections.load(),
          impl_->accept_errors.load()};
}

void HttpServer::stop() {
  if (impl_->stopping.exchange(true)) return;
  asio::post(impl_->first(), [this] {
    boost::system::error_code ec;
    impl_->acceptor->close(ec);
    impl_->accept_pause->cancel();
    // Requests already read are answered (and their connections closed);
    // connections idling in keep-alive get a moment, then the loop stops.
    impl_->grace_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    impl_->wait_for_sessions();
  });
  // The work guards stay until wait_for_sessions stops the loops: a connection
  // accepted just before the acceptor closed still finds its loop running.
}

void HttpServer::wait() {
  if (impl_->waited.exchange(true)) return;
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
}

}  // namespace posthog::server
