#include "fd_writer.hpp"

#include <unistd.h>

#include <cerrno>

namespace posthog::server {

bool FdWriter::write(std::string_view data) {
  std::lock_guard lock(mutex_);
  if (broken()) return false;
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      broken_.store(true, std::memory_order_relaxed);
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace posthog::server
