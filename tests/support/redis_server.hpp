// RedisServer: a real redis-server for a test, on a free loopback port, with
// nothing saved to disk (or, `durable`, an append-only file fsynced at every
// write, as a production Redis holding a stream would be); stopped (SIGTERM)
// when the test is done. stop() and start() again on the same port make "Redis
// went away and came back" (with its data, when durable).
#pragma once

#include <fcntl.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "stores/redis/redis_connection.hpp"

namespace posthog::testing {

class RedisServer {
 public:
  explicit RedisServer(bool durable = false) : port_(free_port()), durable_(durable) {
    if (durable_) {
      std::filesystem::remove_all(data_dir());
      std::filesystem::create_directories(data_dir());
    }
    start();
  }
  ~RedisServer() {
    stop();
    ::unlink(log_file().c_str());
    std::error_code ec;
    if (durable_) std::filesystem::remove_all(data_dir(), ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const noexcept { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  server::RedisEndpoint endpoint() const { return server::RedisEndpoint::parse(url()); }

  void start() {
    if (pid_ > 0) return;
    std::string const port = std::to_string(port_);
    std::string const log = log_file();
    std::string const dir = durable_ ? data_dir() : std::string("/tmp");
    char const* const append_only = durable_ ? "yes" : "no";
    pid_t const parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no orphaned redis-server if the test dies without cleaning up
      if (::getppid() != parent) ::_exit(125);
      int const fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);  // its banner stays out of test output
      if (fd >= 0) ::dup2(fd, 1), ::dup2(fd, 2);
      ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", append_only, "--appendfsync", "always", "--daemonize", "no", "--loglevel", "warning",
               "--dir", dir.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    server::RedisConnection probe(endpoint(), std::chrono::milliseconds(200));
    for (int i = 0; i < 500; ++i) {
      try {
        if (probe.command({"PING"}).text == "PONG") return;
      } catch (const server::RedisUnavailable&) {
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("redis-server exited at start-up (is it installed? bash scripts/setup.sh); see " +
                                 log_file());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("redis-server did not answer PING on port " + port);
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string log_file() const { return "/tmp/posthog-test-redis-" + std::to_string(port_) + ".log"; }
  std::string data_dir() const { return "/tmp/posthog-test-redis-" + std::to_string(port_) + ".data"; }

 private:
  static int free_port() {
    int const fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("no free loopback port for redis-server");
    }
    ::close(fd);
    return ntohs(a.sin_port);
  }

  int port_;
  bool durable_ = false;
  pid_t pid_ = -1;
};

}  // namespace posthog::testing
