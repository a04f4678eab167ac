#include "redis_stream_log.hpp"

#include "stores/redis/redis_pool.hpp"
#include "log_record.hpp"

namespace posthog::server {

RedisStreamLog::RedisStreamLog(RedisPool& pool, std::string prefix, StreamLayout layout, ConsumerPolicy policy,
                               std::string server_id, Report report)
    : pool_(pool),
      prefix_(prefix),
      policy_(policy),
      server_id_(std::move(server_id)),
      report_(std::move(report)),
      stream_(pool, std::move(prefix), layout) {}

void RedisStreamLog::append(std::span<LogAppend> records, Durable durable) {
  bool taken = false;
  try {
    taken = stream_.append(records);
  } catch (const std::runtime_error& e) {
    // Unreachable, or answering with an error (LOADING after a restart, OOM,
    // READONLY after a failover): either way nothing was taken.
    ++refused_unavailable_;
    throw LogUnavailable(std::string("the event stream cannot take events now (") + e.what() + ")");
  }
  if (!taken) {
    ++refused_full_;
    throw LogFull("an event stream is at its length (serve.redis.stream.max_entries): its events are not yet "
                  "through the workers");
  }
  appended_records_ += records.size();
  for (auto const& r : records) appended_events_ += r.events;
  durable({});  // Redis answered: the entries are there (as durable as Redis is configured to keep them)
}

LogStatus RedisStreamLog::status() const {
  LogStatus s;
  s.backend = "redis";
  s.writable = pool_.reachable();
  if (!s.writable) s.problem = "Redis is out of reach";
  s.appended_records = appended_records_;
  s.appended_events = appended_events_;
  s.refused_full = refused_full_;
  s.refused_unavailable = refused_unavailable_;
  return s;
}

void RedisStreamLog::describe(boost::json::object& ready) const {
  boost::json::object log{{"backend", "redis"}, {"partitions", partitions()}};
  if (consumer_) {
    auto const c = consumer_->status();
    boost::json::array held;
    for (auto p : c.partitions) held.push_back(p);
    ready["stream"] = boost::json::object{{"partitions", std::move(held)},
                                          {"entries_read", c.entries_read},
                                          {"entries_claimed", c.entries_claimed},
                                          {"entries_acknowledged", c.entries_acknowledged},
                                          {"acknowledgements_waiting", c.acknowledgements_waiting}};
  }
  ready["log"] = std::move(log);
}

void RedisStreamLog::start(Deliver deliver, std::function<bool()> has_room) {
  consumer_ = std::make_unique<StreamConsumer>(
      pool_, prefix_, stream_.layout(), policy_, server_id_,
      [deliver = std::move(deliver)](std::size_t partition, std::vector<StreamEntry>&& entries) {
        LogBatch batch;
        batch.partition = partition;
        for (auto& e : entries) {
          batch.ids.push_back(std::move(e.id));
          auto const at = batch.bytes.size();
          batch.bytes += e.record;
          batch.records.emplace_back(static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(e.record.size()));
          try {
            batch.events += LogRecordView(e.record).event_count();
          } catch (const LogRecordError&) {
            // counted and skipped by the worker, which meets it too
          }
        }
        deliver(std::move(batch));
      },
      report_);
  consumer_->start(std::move(has_room));
}

void RedisStreamLog::commit(LogBatch& batch) {
  if (consumer_) consumer_->acknowledge(batch.partition, std::move(batch.ids));
}

bool RedisStreamLog::redeliver(LogBatch& batch) {
  if (!consumer_) return false;
  consumer_->run_again(batch.partition, batch.ids);
  return true;
}

void RedisStreamLog::stop(std::chrono::milliseconds, std::function<bool()>) {
  if (consumer_) consumer_->stop_reading();  // what it read runs through; the rest stays in the stream
}

void RedisStreamLog::finish(std::chrono::milliseconds patience) {
  if (consumer_) consumer_->finish(patience);
}

ConsumerStatus RedisStreamLog::consumer_status() const {
  return consumer_ ? consumer_->status() : ConsumerStatus{};
}

}  // namespace posthog::server
