// TestReceiver: a real HTTP server on a free loopback port for the export
// plugins' tests. It answers with the statuses it is told to (then 200), can
// drop the connection instead of answering, can be slow, and keeps what it
// received.
//
//   TestReceiver receiver;
//   receiver.answer({500, TestReceiver::drop, 429});  // the next three requests fail
//   ... post to receiver.url("/hook") ...
//   receiver.bodies()                          // what arrived
#pragma once

#include <httplib.h>

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace posthog::plugins::testing {

class TestReceiver {
 public:
  TestReceiver() {
    server_.Post(".*", [this](const httplib::Request& request, httplib::Response& response) {
      std::chrono::milliseconds delay{};
      int status = 200;
      {
        std::lock_guard lock(mutex_);
        delay = delay_;
        if (!statuses_.empty()) {
          status = statuses_.front();
          statuses_.pop_front();
        }
        requests_.push_back({request.path, request.body, {request.headers.begin(), request.headers.end()}, status});
      }
      if (delay.count()) std::this_thread::sleep_for(delay);
      if (status == drop) {
        // Headers promise a body that never comes: the client reads a cut connection.
        response.set_content_provider(64, "application/json",
                                      [](std::size_t, std::size_t, httplib::DataSink&) { return false; });
        return;
      }
      response.status = status;
      response.set_content(status < 400 ? "{\"status\":1}" : "{\"error\":\"told to fail\"}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the loop runs would be lost, and the destructor would wait forever.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~TestReceiver() {
    server_.stop();
    thread_.join();
  }

  // In answer(): close the connection in the middle of the response.
  static constexpr int drop = 0;

  struct Received {
    std::string path;
    std::string body;
    std::multimap<std::string, std::string> headers;
    int status;  // `drop` when the connection was cut
  };

  void answer(std::vector<int> statuses) {
    std::lock_guard lock(mutex_);
    statuses_.assign(statuses.begin(), statuses.end());
  }
  void delay(std::chrono::milliseconds d) {
    std::lock_guard lock(mutex_);
    delay_ = d;
  }
  std::vector<Received> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::string url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int port() const noexcept { return port_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::deque<int> statuses_;
  std::chrono::milliseconds delay_{};
  std::vector<Received> requests_;
};

}  // namespace posthog::plugins::testing
