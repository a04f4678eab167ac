// JsonlFileSink: events appended to a file, one JSON object per line.
//
// fsync policy (`sink.fsync` in the config):
//   "batch"     fsync after every batch: a crash loses nothing written;
//   "interval"  (default) fsync once a second by a thread of its own (workers
//               never wait for the disk), and at shutdown: a machine crash can
//               lose the last second, a process crash nothing (the data is in
//               the kernel's page cache);
//   "never"     leave it to the kernel (and to flush() at shutdown).
// The file is opened with O_APPEND, so concurrent batches never interleave.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "event_sink.hpp"

namespace posthog::server {

class JsonlFileSink final : public EventSink {
 public:
  enum class Fsync { batch, interval, never };
  // Throws std::runtime_error naming the file when it cannot be opened.
  JsonlFileSink(const std::filesystem::path& path, Fsync policy);
  ~JsonlFileSink() override;

  void write(const SinkBatch& batch) override;
  void flush() override;
  void sync() override;  // fdatasync, unless the policy is never

  static Fsync parse_policy(std::string_view name);  // throws std::invalid_argument
  // Interval fsyncs that failed (the kernel said the data may not be on disk).
  std::uint64_t sync_failures() const noexcept { return sync_failures_.load(); }
  // Bytes of a line a crash left unfinished at the end of the file, cut when it was opened.
  std::uint64_t torn_bytes() const noexcept { return torn_bytes_; }

 private:
  void cut_torn_line();
  std::filesystem::path path_;
  Fsync policy_;
  int fd_ = -1;
  std::mutex mutex_;  // one batch at a time, so a failed one can be cut back
  std::atomic<bool> dirty_{false};  // written since the last interval fsync
  std::atomic<std::uint64_t> sync_failures_{0};
  std::uint64_t torn_bytes_ = 0;
  std::mutex syncer_mutex_;
  std::condition_variable syncer_wake_;
  bool stopping_ = false;
  std::thread syncer_;
};

}  // namespace posthog::server
