// RemoteLog: the event log as a supervised worker process sees it. The
// supervisor owns the log (its files, its fsyncs, capture's appends); the
// worker gets batches over the LogChannel and answers with what it did, so
// the supervisor knows, even after the worker died, which batches are in the
// sink and which must run again.
//
//   RemoteLog log(channel, partitions);
//   // the worker's channel thread hands every frame to log.on_frame(frame)
//   log.start(deliver, has_room);     // batches from the supervisor
//   log.append(records, durable);     // a job's meta.capture: appended by the supervisor
#pragma once

#include <cstdint>
#include <condition_variable>
#include <map>
#include <mutex>

#include "event_log.hpp"
#include "log_channel.hpp"

namespace posthog::server {

class RemoteLog final : public EventLog, public LogReader {
 public:
  RemoteLog(LogChannel& channel, std::size_t partitions) : channel_(channel), partitions_(partitions) {}

  // A frame for the log (a batch, an append's answer): true when taken.
  bool on_frame(ChannelFrame& frame);
  // The channel ended: appends waiting for an answer fail.
  void channel_closed();

  // EventLog
  std::size_t partitions() const noexcept override { return partitions_; }
  using EventLog::append;
  void append(std::span<LogAppend> records, Durable durable) override;
  LogStatus status() const override;

  // LogReader: flow control is the supervisor's (it sends no more than the
  // pipeline may hold), so has_room and wake have nothing to do here.
  void start(Deliver deliver, std::function<bool()> has_room) override;
  void wake() override {}
  void about_to_sink(const LogBatch& batch) override;
  void commit(LogBatch& batch) override;
  bool redeliver(LogBatch&) override { return false; }
  void stop(std::chrono::milliseconds, std::function<bool()>) override {}
  void finish(std::chrono::milliseconds) override {}

 private:
  LogChannel& channel_;
  std::size_t partitions_;
  mutable std::mutex mutex_;
  std::condition_variable started_;
  Deliver deliver_;
  std::uint64_t next_request_ = 1;
  std::map<std::uint64_t, Durable> waiting_;
  bool closed_ = false;
  std::uint64_t appended_records_ = 0, appended_events_ = 0;
};

}  // namespace posthog::server
