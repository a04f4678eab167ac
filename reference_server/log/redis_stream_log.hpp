// RedisStreamLog: the event log of a cluster, on Redis Streams.
//
// The same two sides as the embedded log, on what stores/redis already had:
// capture appends a request's records with EventStream (one entry per
// partition, all or none, a bounded length per stream), and this server's
// workers read the partitions they hold a lease on with StreamConsumer (one
// consumer group for every server). A batch is one delivery of entries of one
// partition; committing it acknowledges them, and one the export queue could
// not take is taken over again from Redis and delivered anew.
//
//   RedisStreamLog log(pool, prefix, layout, policy, server_id, report);
//   log.append(records);                  // LogFull: a stream at its length; LogUnavailable: Redis away
//   log.start(deliver, has_room);         // a worker server
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "event_stream.hpp"
#include "stream_consumer.hpp"
#include "event_log.hpp"

namespace posthog::server {

class RedisStreamLog final : public EventLog, public LogReader {
 public:
  using Report = StreamConsumer::Report;
  RedisStreamLog(RedisPool& pool, std::string prefix, StreamLayout layout, ConsumerPolicy policy,
                 std::string server_id, Report report);

  // EventLog
  std::size_t partitions() const noexcept override { return stream_.layout().partitions; }
  using EventLog::append;
  void append(std::span<LogAppend> records, Durable durable) override;
  LogStatus status() const override;
  void describe(boost::json::object& ready) const override;

  // LogReader (a worker server only)
  void start(Deliver deliver, std::function<bool()> has_room) override;
  void wake() override {}  // the consumer asks has_room() before every read
  void about_to_sink(const LogBatch&) override {}  // a crash shows as entries still pending in the group
  void commit(LogBatch& batch) override;
  bool redeliver(LogBatch& batch) override;
  void stop(std::chrono::milliseconds deadline, std::function<bool()> pipeline_idle) override;
  void finish(std::chrono::milliseconds patience) override;

  ConsumerStatus consumer_status() const;
  std::vector<std::int64_t> stream_lengths() { return stream_.lengths(); }

 private:
  RedisPool& pool_;
  std::string prefix_;
  ConsumerPolicy policy_;
  std::string server_id_;
  Report report_;
  EventStream stream_;
  std::unique_ptr<StreamConsumer> consumer_;
  std::atomic<std::uint64_t> appended_records_{0}, appended_events_{0}, refused_full_{0}, refused_unavailable_{0};
};

}  // namespace posthog::server
