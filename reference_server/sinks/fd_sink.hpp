// FdSink: events written to a file descriptor as JSON lines (process mode's
// stdout), one write per batch. A descriptor that stops taking data (a closed
// pipe) is not retried: broken() says so, and the reader stops feeding.
#pragma once

#include "event_sink.hpp"
#include "fd_writer.hpp"

namespace posthog::server {

class FdSink final : public EventSink {
 public:
  explicit FdSink(FdWriter& out) noexcept : out_(out) {}
  void write(const SinkBatch& batch) override { out_.write(batch.lines); }
  void flush() override {}

 private:
  FdWriter& out_;
};

}  // namespace posthog::server
