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
  // Makes everything written so far durable, now, as the sink's own policy
  // allows; throws std::runtime_error when it cannot. The event log writes a
  // commit durably only after this returned (a machine crash must not leave
  // commits on disk for events that are not). Default: nothing to do.
  virtual void sync() {}
  // True when the events should carry the client's address in
  // properties.$ip too (a PostHog instance downstream would otherwise see this
  // server's): the worker sets it before it writes the event, once.
  virtual bool wants_ip_in_properties() const noexcept { return false; }
};

}  // namespace posthog::server
