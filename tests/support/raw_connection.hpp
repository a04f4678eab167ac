// RawConnection: a plain TCP connection to a loopback port, for what an HTTP
// client library hides: bytes on the wire exactly as sent (HEAD answers,
// pipelined requests), connections held open and idle, early answers.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace posthog::testing {

class RawConnection {
 public:
  // Connects; reads give up after `read_timeout_ms` without a byte.
  explicit RawConnection(int port, int read_timeout_ms = 5000) : RawConnection(Unconnected{}, read_timeout_ms) {
    connect(port);
  }
  // A socket not yet connected, for a test that needs the descriptor to exist
  // before it connects (when the process is about to run out of them).
  struct Unconnected {};
  explicit RawConnection(Unconnected, int read_timeout_ms = 5000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket() failed");
    timeval tv{read_timeout_ms / 1000, (read_timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void connect(int port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd_);
      fd_ = -1;
      throw std::runtime_error("connect() to port " + std::to_string(port) + " failed");
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  RawConnection(RawConnection&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      auto const n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send() failed");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Everything until the peer closes, or until the read timeout passes
  // without a byte (then what came so far).
  std::string read_until_closed() {
    std::string out;
    char buffer[16384];
    for (;;) {
      auto const n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return out;
      out.append(buffer, static_cast<std::size_t>(n));
    }
  }

  // At least `bytes` bytes (or fewer when the peer closes or goes quiet).
  std::string read_at_least(std::size_t bytes) {
    std::string out;
    char buffer[16384];
    while (out.size() < bytes) {
      auto const n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
};

}  // namespace posthog::testing
