// FdWriter: writes whole buffers to a file descriptor from many threads, each
// buffer contiguous in the output (one lock per buffer, not per event). A closed
// pipe is reported once and the writer stops, instead of killing the process
// with SIGPIPE.
#pragma once

#include <atomic>
#include <mutex>
#include <string_view>

namespace posthog::server {

class FdWriter {
 public:
  explicit FdWriter(int fd) noexcept : fd_(fd) {}
  // False when the descriptor no longer accepts data.
  bool write(std::string_view data);
  bool broken() const noexcept { return broken_.load(std::memory_order_relaxed); }

 private:
  int fd_;
  std::mutex mutex_;
  std::atomic<bool> broken_{false};
};

}  // namespace posthog::server
