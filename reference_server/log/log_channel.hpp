// LogChannel: the event log's link between a supervisor and the worker
// process it runs the plugin chains in (modes/worker_supervisor.hpp).
//
// Framed messages over a connected stream socket (a socketpair made before
// the worker is started):
//
//   [u32 body size][u8 kind][body]
//
// Batches go to the worker; what it did with them (about to sink, committed)
// and the events it captures outside the pipeline come back. A worker that
// dies leaves whatever it sent readable until the end of the stream, so the
// supervisor learns every commit the worker made before it learns of its death.
//
//   LogChannel channel(fd);
//   channel.send(ChannelKind::commit, ChannelBody().u64(partition).u64(end).take());
//   while (auto frame = channel.receive()) ...;   // nullopt: the peer is gone
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "event_log.hpp"

namespace posthog::server {

enum class ChannelKind : std::uint8_t {
  // supervisor -> worker
  batch = 1,      // a LogBatch
  appended,       // u64 request id, string failure (empty: durable)
  sync_sink,      // u64 request id: make the sink's writes durable
  control,        // JSON: quarantine entries, quiesce, stop
  // worker -> supervisor
  sinking = 16,   // u64 partition, u64 end
  committed,      // u64 partition, u64 end
  append,         // u64 request id, u32 records, each: u64 partition, u32 events, string payload
  sink_synced,    // u64 request id, string failure
  report,         // JSON: ready, teams, stats
};

class ChannelClosed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ChannelFrame {
  ChannelKind kind;
  std::string body;
};

// Little-endian fields one after another.
class ChannelBody {
 public:
  ChannelBody& u32(std::uint32_t v);
  ChannelBody& u64(std::uint64_t v);
  ChannelBody& text(std::string_view s);  // u32 size, bytes
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class ChannelReader {
 public:
  explicit ChannelReader(std::string_view body) : rest_(body) {}
  std::uint32_t u32();
  std::uint64_t u64();
  std::string_view text();

 private:
  std::string_view rest_;
};

// A batch as it crosses: partition, end, events, then each record's position and bytes.
std::string encode_batch(const LogBatch& batch);
LogBatch decode_batch(std::string_view body);

class LogChannel {
 public:
  static constexpr std::uint32_t max_body_bytes = 512u << 20;

  explicit LogChannel(int fd) noexcept : fd_(fd) {}
  ~LogChannel();
  LogChannel(const LogChannel&) = delete;
  LogChannel& operator=(const LogChannel&) = delete;

  // Whole frames, from any thread; throws ChannelClosed once the peer is gone.
  void send(ChannelKind kind, std::string_view body);
  // Blocks for the next frame; nullopt at the end of the stream. One reader.
  std::optional<ChannelFrame> receive();
  // Ends both directions: a blocked receive() returns nullopt.
  void shutdown() noexcept;
  int fd() const noexcept { return fd_; }

 private:
  int fd_;
  std::mutex send_mutex_;
};

}  // namespace posthog::server
