// EventLog and LogReader: where capture puts the events it accepts before it
// answers 200, and where the pipeline takes them from. The one place where
// "accepted" becomes "durable".
//
// Two backends behind these two interfaces: the embedded segment files of one
// server (segment_log.hpp) and Redis Streams for a cluster
// (redis_stream_log.hpp). Both are partitioned by (team, distinct_id)
// (partitioner.hpp), so one person's events stay in order, and both deliver
// at least once: a batch is committed only once the sink (and the export
// queue) have its events, and whatever was not committed when a server died
// is delivered again.
//
//   std::vector<LogAppend> records = ...;        // one per partition the request touches
//   log.append(records);                         // all or none; throws LogFull / LogUnavailable
//
//   reader.start(deliver, has_room);             // deliver(LogBatch&&) from the reader's thread
//   ... reader.about_to_sink(batch); sink; reader.commit(batch);
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace posthog::server {

// The log cannot take more now (its byte bound, or a Redis stream's length):
// nothing was taken; capture answers 503 with Retry-After.
class LogFull : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The log cannot be written (a write error, a full disk, an fsync that
// failed, Redis out of reach): nothing may be acknowledged; 503.
class LogUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One request's events for one partition: an encoded LogRecord.
struct LogAppend {
  std::size_t partition = 0;
  std::string payload;
  std::uint32_t events = 0;
};

// For /_ready and /metrics.
struct LogStatus {
  std::string backend;          // "segments" or "redis"
  bool writable = true;         // false: capture answers 503, `problem` says why
  std::string problem;
  std::uint64_t bytes = 0;      // on disk now (segments)
  std::uint64_t max_bytes = 0;  // the bound (segments)
  std::uint64_t segments = 0;
  std::uint64_t pending_events = 0;      // appended, not yet committed
  std::uint64_t appended_records = 0, appended_events = 0;
  std::uint64_t refused_full = 0, refused_unavailable = 0;
  std::uint64_t fsyncs = 0;
  std::uint64_t redelivered_events = 0;  // after a crash: handed to the sink before, maybe there twice
  std::uint64_t torn_bytes = 0;          // cut from a torn or damaged tail at start
};

class EventLog {
 public:
  // Called once the records are as durable as the backend's policy says:
  // with an empty `failure`, or with why they could not be made so (then
  // nothing may be acknowledged). At once, or later from the log's own thread.
  using Durable = std::function<void(std::string_view failure)>;

  virtual ~EventLog() = default;
  virtual std::size_t partitions() const noexcept = 0;
  // Writes all of `records` or none (throws LogFull or LogUnavailable), then
  // `durable` is called as above. Whoever answers a client waits for it; it
  // need not block a thread meanwhile (an HTTP connection's answer is sent
  // from the callback), which is what lets one fsync serve many requests.
  virtual void append(std::span<LogAppend> records, Durable durable) = 0;
  // The same, returning once durable (throws LogUnavailable when it cannot be).
  void append(std::span<LogAppend> records);
  virtual LogStatus status() const = 0;
  // True when an append would be refused now (cheap: asked before a
  // request's body is even decoded).
  virtual bool refusing() const noexcept { return false; }
  // Adds backend-specific facts to the /_ready answer.
  virtual void describe(boost::json::object& ready) const { (void)ready; }
};

// Records of one partition, handed to the pipeline in log order.
struct LogBatch {
  std::size_t partition = 0;
  std::string bytes;  // the records' payloads, one after another
  std::vector<std::pair<std::uint32_t, std::uint32_t>> records;  // (offset, size) in `bytes`
  // Each record's place in the log (segments: its frame's offset), for a
  // worker to say which event a crash was on; empty when the backend has none.
  std::vector<std::uint64_t> positions;
  // Which delivery of the log this batch belongs to (segments: a new one
  // starts when everything uncommitted is delivered again).
  std::uint64_t epoch = 0;
  std::size_t events = 0;
  // Where the batch ends, for the backend: a log offset (segments) or the
  // stream entry ids (Redis).
  std::uint64_t end = 0;
  std::vector<std::string> ids;

  std::string_view record(std::size_t i) const noexcept {
    return std::string_view(bytes).substr(records[i].first, records[i].second);
  }
};

class LogReader {
 public:
  using Deliver = std::function<void(LogBatch&&)>;
  virtual ~LogReader() = default;
  // Starts the reading thread: deliver() gets each batch, while has_room()
  // says the pipeline can hold more (flow control: a full pipeline stops the
  // reading, never the log). A batch is delivered only when has_room() or
  // nothing is in flight, so a record larger than the bound still goes.
  virtual void start(Deliver deliver, std::function<bool()> has_room) = 0;
  // The pipeline has room again (a batch was committed): reading resumes.
  virtual void wake() = 0;
  // The batch is about to go to the sink: a crash from here to commit() makes
  // its events possible duplicates, counted when they are delivered again.
  virtual void about_to_sink(const LogBatch& batch) = 0;
  // The sink (and the export queue) have the batch's events.
  virtual void commit(LogBatch& batch) = 0;
  // Not all of the batch got out (the export queue refused it): deliver it
  // again. Backends that cannot deliver one batch again alone say so (false),
  // and the caller retries the step that failed instead.
  virtual bool redeliver(LogBatch& batch) = 0;
  // Shutdown, once nothing is appended any more. The embedded log delivers
  // everything still in it and waits until the pipeline is idle again, at
  // most `deadline` (a restart finds it empty, unless the sink gave up on
  // some: they stay for the next start); a stream stops reading at once (the
  // other workers take the rest).
  virtual void stop(std::chrono::milliseconds deadline, std::function<bool()> pipeline_idle) = 0;
  // After the pipeline has drained: the last commits written (the embedded
  // log's final checkpoint; a stream's last acknowledgements, for up to
  // `patience`, and its leases given back so that others take over now).
  virtual void finish(std::chrono::milliseconds patience) = 0;
};

}  // namespace posthog::server
