#include "jsonl_file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace posthog::server {

JsonlFileSink::JsonlFileSink(const std::filesystem::path& path, Fsync policy) : path_(path), policy_(policy) {
  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot open the sink file " + path.string() + ": " + std::strerror(errno));
}

JsonlFileSink::~JsonlFileSink() {
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
  }
}

JsonlFileSink::Fsync JsonlFileSink::parse_policy(std::string_view name) {
  if (name == "batch") return Fsync::batch;
  if (name == "interval" || name.empty()) return Fsync::interval;
  if (name == "never") return Fsync::never;
  throw std::invalid_argument("fsync must be batch, interval or never, not '" + std::string(name) + "'");
}

void JsonlFileSink::write(const SinkBatch& batch) {
  std::string_view data = batch.lines;
  std::lock_guard lock(mutex_);
  // A batch lands whole or not at all: a failed write (disk full) is cut back
  // to where the batch began, so the caller can retry it without duplicates.
  off_t const start = ::lseek(fd_, 0, SEEK_END);
  while (!data.empty()) {
    ssize_t const n = ::write(fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int const error = errno;
      if (start >= 0 && ::ftruncate(fd_, start) != 0) {
        throw std::runtime_error("writing the sink file " + path_.string() + " failed (" + std::strerror(error) +
                                 ") and a partial batch could not be removed: " + std::strerror(errno));
      }
      throw std::runtime_error("writing the sink file " + path_.string() + " failed: " + std::strerror(error));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  auto const now = std::chrono::steady_clock::now();
  if (policy_ == Fsync::batch || (policy_ == Fsync::interval && now - last_sync_ >= std::chrono::seconds(1))) {
    ::fdatasync(fd_);
    last_sync_ = now;
  }
}

void JsonlFileSink::flush() {
  std::lock_guard lock(mutex_);
  ::fsync(fd_);
  last_sync_ = std::chrono::steady_clock::now();
}

}  // namespace posthog::server
