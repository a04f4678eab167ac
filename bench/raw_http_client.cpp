#include "raw_http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace posthog::bench {

std::string request_bytes(std::string_view path, std::string_view body, std::string_view content_type) {
  std::string r = "POST ";
  r.append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ").append(content_type);
  r.append("\r\nContent-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return r;
}

RawHttpClient::RawHttpClient(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("bench client: connect");
    std::exit(1);
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  buffer_.resize(64 * 1024);
}

RawHttpClient::~RawHttpClient() {
  if (fd_ >= 0) ::close(fd_);
}

int RawHttpClient::send(std::string_view request) {
  while (!request.empty()) {
    ssize_t const n = ::write(fd_, request.data(), request.size());
    if (n <= 0) return 0;
    request.remove_prefix(static_cast<std::size_t>(n));
  }
  // Headers, then Content-Length bytes of body.
  std::size_t have = 0, header_end = std::string::npos;
  while (header_end == std::string::npos) {
    ssize_t const n = ::read(fd_, buffer_.data() + have, buffer_.size() - have);
    if (n <= 0) return 0;
    have += static_cast<std::size_t>(n);
    header_end = std::string_view(buffer_.data(), have).find("\r\n\r\n");
    if (header_end == std::string::npos && have == buffer_.size()) return 0;
  }
  std::string_view const head(buffer_.data(), header_end);
  int const status = std::atoi(head.data() + head.find(' ') + 1);
  std::size_t length = 0;
  for (auto key : {"Content-Length: ", "content-length: "})
    if (auto at = head.find(key); at != std::string_view::npos) length = std::strtoul(head.data() + at + 16, nullptr, 10);
  std::size_t body = have - header_end - 4;
  while (body < length) {
    ssize_t const n = ::read(fd_, buffer_.data(), buffer_.size());
    if (n <= 0) return 0;
    body += static_cast<std::size_t>(n);
  }
  return status;
}

std::size_t send_all(int port, const std::vector<std::string>& requests, int clients) {
  std::atomic<std::size_t> next{0}, failed{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&] {
      RawHttpClient client(port);
      for (std::size_t i = next++; i < requests.size(); i = next++)
        for (;;) {
          int const status = client.send(requests[i]);
          if (status == 200) break;
          if (status != 503) {
            ++failed;
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
  for (auto& t : threads) t.join();
  return failed.load();
}

}  // namespace posthog::bench
