// RawHttpClient: the cheapest HTTP/1.1 keep-alive load generator we can write,
// so that a benchmark on a small machine measures the server, not the client.
// Requests are built once (request_bytes) and sent with one write each; the
// answer is read just far enough to know its status and where it ends.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace posthog::bench {

// A whole POST request: request line, headers, body.
std::string request_bytes(std::string_view path, std::string_view body, std::string_view content_type);

class RawHttpClient {
 public:
  explicit RawHttpClient(int port);  // 127.0.0.1; exits the benchmark when it cannot connect
  ~RawHttpClient();
  RawHttpClient(const RawHttpClient&) = delete;
  RawHttpClient& operator=(const RawHttpClient&) = delete;

  // Sends the request, reads the answer; its status, or 0 when the connection failed.
  int send(std::string_view request);

 private:
  int fd_ = -1;
  std::string buffer_;
};

// Sends every request once, shared out over `clients` keep-alive connections;
// a 503 is sent again after 5 ms. Returns how many failed otherwise.
std::size_t send_all(int port, const std::vector<std::string>& requests, int clients);

}  // namespace posthog::bench
