// JsonlFileSink: events appended to a file, one JSON object per line.
//
// fsync policy (`sink.fsync` in the config):
//   "batch"     fsync after every batch: a crash loses nothing written;
//   "interval"  (default) fsync at most once a second, and at shutdown: a
//               machine crash can lose the last second, a process crash nothing
//               (the data is in the kernel's page cache);
//   "never"     leave it to the kernel (and to flush() at shutdown).
// The file is opened with O_APPEND, so concurrent batches never interleave.
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>

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

  static Fsync parse_policy(std::string_view name);  // throws std::invalid_argument

 private:
  std::filesystem::path path_;
  Fsync policy_;
  int fd_ = -1;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::now();
};

}  // namespace posthog::server
