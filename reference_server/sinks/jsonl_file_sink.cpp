#include "jsonl_file_sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
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
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);  // /dev/stdout, a pipe
  if (fd_ < 0) throw std::runtime_error("cannot open the sink file " + path.string() + ": " + std::strerror(errno));
  cut_torn_line();
  if (policy_ == Fsync::interval)
    syncer_ = std::thread([this] {
      std::unique_lock lock(syncer_mutex_);
      while (!syncer_wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; }))
        if (dirty_.exchange(false) && ::fdatasync(fd_) != 0) ++sync_failures_;  // appends meanwhile: the next one
    });
}

// A process killed in the middle of a write leaves a line without its end.
// Its events were not committed, so they are written again, whole: the
// fragment goes, or it would glue itself to the next line.
void JsonlFileSink::cut_torn_line() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return;
  char buffer[4096];
  off_t end = st.st_size;
  while (end > 0) {
    off_t const from = end > static_cast<off_t>(sizeof buffer) ? end - static_cast<off_t>(sizeof buffer) : 0;
    auto const n = ::pread(fd_, buffer, static_cast<std::size_t>(end - from), from);
    if (n <= 0) return;  // not readable (opened write-only): left as it is
    for (auto i = n; i > 0; --i)
      if (buffer[i - 1] == '\n') {
        off_t const keep = from + i;
        if (keep < st.st_size && ::ftruncate(fd_, keep) == 0) torn_bytes_ = static_cast<std::uint64_t>(st.st_size - keep);
        return;
      }
    end = from;
  }
  if (::ftruncate(fd_, 0) == 0) torn_bytes_ = static_cast<std::uint64_t>(st.st_size);
}

JsonlFileSink::~JsonlFileSink() {
  if (syncer_.joinable()) {
    {
      std::lock_guard lock(syncer_mutex_);
      stopping_ = true;
    }
    syncer_wake_.notify_all();
    syncer_.join();
  }
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
  if (policy_ == Fsync::batch && ::fdatasync(fd_) != 0) {
    int const error = errno;
    if (start >= 0 && ::ftruncate(fd_, start) != 0) ++sync_failures_;  // cannot undo: a retry may duplicate it
    throw std::runtime_error("fsync of the sink file " + path_.string() + " failed: " + std::strerror(error));
  }
  else if (policy_ == Fsync::interval) dirty_.store(true, std::memory_order_relaxed);
}

void JsonlFileSink::sync() {
  if (policy_ == Fsync::never) return;
  // EINVAL: a special file (a pipe, /dev/null) that has nothing to sync.
  if (::fdatasync(fd_) != 0 && errno != EINVAL) {
    ++sync_failures_;
    throw std::runtime_error("fsync of the sink file " + path_.string() + " failed: " + std::strerror(errno));
  }
}

void JsonlFileSink::flush() {
  std::lock_guard lock(mutex_);
  ::fsync(fd_);
  dirty_ = false;
}

}  // namespace posthog::server
