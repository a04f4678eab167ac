// The HTTP server when the process runs out of file descriptors: accept()
// fails with EMFILE for as long as that lasts, and the acceptor must wait
// between tries instead of spinning a core, then take the waiting
// connections once descriptors are free again.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "http/http_server.hpp"
#include "raw_connection.hpp"

namespace http_server_test {

using posthog::server::HttpRequest;
using posthog::server::HttpResponse;
using posthog::server::HttpServer;
using posthog::server::HttpServerOptions;

namespace {

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto const& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace

TEST_CASE("Out of descriptors, the acceptor pauses instead of spinning, then serves", "[http][emfile]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizers' runtimes need descriptors of their own to check a
  // pointer (UBSan's vptr check opens a pipe), not only to report: out of
  // them, they report errors that are not there. Run in the plain build.
  WARN("not run under a sanitizer: it takes every file descriptor away");
  return;
#endif
  std::mutex mutex;
  std::vector<std::string> trouble;
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.io_threads = 1;
  options.on_accept_trouble = [&](const std::string& message) {
    std::lock_guard lock(mutex);
    trouble.push_back(message);
  };
  HttpServer server(options, [](HttpRequest&) {
    HttpResponse r;
    r.body = "{}";
    return r;
  });

  // The clients' sockets exist before the descriptors run out; only the
  // server's accept() then needs a new one. (Made after the limit is lowered
  // and connected together, an accept of the first could take the
  // descriptor the second socket needed.)
  std::vector<posthog::testing::RawConnection> clients;
  clients.emplace_back(posthog::testing::RawConnection::Unconnected{});
  clients.emplace_back(posthog::testing::RawConnection::Unconnected{});
  rlimit const before = [] {
    rlimit l{};
    ::getrlimit(RLIMIT_NOFILE, &l);
    return l;
  }();
  rlimit low = before;
  low.rlim_cur = open_descriptors() + 32;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  // No assertion while the descriptors are gone: the sanitizers' runtimes
  // need some of their own to report anything.
  std::vector<int> fillers;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);
  int const exhausted = errno;
  for (auto& c : clients) c.connect(server.port());

  // Once accepting has failed, over 300 ms a spinning acceptor fails tens of
  // thousands of times; one that pauses 10 ms, doubling, a handful of times.
  for (int i = 0; i < 1000 && server.stats().accept_errors == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto const errors = server.stats().accept_errors;
  std::vector<std::string> trouble_then;
  {
    std::lock_guard lock(mutex);
    trouble_then = trouble;
  }
  for (int fd : fillers) ::close(fd);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &before) == 0);
  REQUIRE(exhausted == EMFILE);
  CHECK(errors >= 1);
  CHECK(errors <= 20);
  REQUIRE(trouble_then.size() == 1);
  CHECK_THAT(trouble_then[0], Catch::Contains("accept failed"));
  // Both waiting connections are taken at the next try (within a second) and answered.
  for (auto& c : clients) {
    c.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    CHECK_THAT(c.read_until_closed(), Catch::StartsWith("HTTP/1.1 200"));
  }
  std::lock_guard lock(mutex);
  REQUIRE(trouble.size() == 2);
  CHECK(trouble[1] == "accepting connections again");
}

TEST_CASE("Over the connection cap, a new connection gets a 503 and is closed", "[http][connections]") {
  HttpServerOptions options;
  options.port = 0;
  options.io_threads = 1;
  options.max_connections = 2;
  HttpServer server(options, [](HttpRequest&) { return HttpResponse{}; });
  posthog::testing::RawConnection a(server.port()), b(server.port());
  posthog::testing::RawConnection c(server.port());
  c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_THAT(c.read_until_closed(), Catch::StartsWith("HTTP/1.1 503"));
  CHECK(server.stats().refused_connections == 1);
  CHECK(server.stats().open_connections == 2);
}

}  // namespace http_server_test
