// EventSink: where processed events go. Workers hand over whole batches of JSON
// lines (one write per batch); `on_event` hooks run after write() returned,
// i.e. after the sink accepted the events.
#pragma once

#include <string_view>

namespace posthog::server {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Thread-safe, and whole: when it throws std::runtime_error, none of the
  // batch was kept, so the caller may retry it.
  virtual void write(std::string_view json_lines) = 0;
  // Makes everything written so far durable (called at shutdown).
  virtual void flush() = 0;
};

}  // namespace posthog::server
