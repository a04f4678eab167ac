// EventSink: where processed events go. Workers hand over whole batches of JSON
// lines (one write per batch); `on_event` hooks run after write() returned,
// i.e. after the sink accepted the events.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace posthog::server {

// Consecutive lines of a batch that belong to one team: they end at byte `end`
// of the batch (and start where the previous run ended).
struct TeamRun {
  std::int64_t team_id;
  std::size_t end;
  std::size_t events;
};

struct SinkBatch {
  std::string_view lines;  // JSON objects, one per line
  std::span<const TeamRun> teams;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Thread-safe, and whole: when it throws std::runtime_error, none of the
  // batch was kept, so the caller may retry it.
  virtual void write(const SinkBatch& batch) = 0;
  // Makes everything written so far durable, or delivered (called at shutdown).
  virtual void flush() = 0;
};

}  // namespace posthog::server
