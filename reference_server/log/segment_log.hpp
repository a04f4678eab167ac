// SegmentLog: the embedded event log of one server, in segment files on disk.
//
// One append-only sequence of records in files of `segment_bytes`
// (`<dir>/<first offset>.log`); each record carries its partition, its length
// and a CRC32C of what follows, so a reader can skip other partitions'
// records, and a start after a crash tells a whole record from a torn one.
//
//   [u32 payload size][u32 crc32c][u16 partition][u16 0][payload: a LogRecord]
//
// One sequence rather than one per partition: a request's records for all
// its partitions are written with one writev and made durable with one
// fdatasync, which one group commit shares among every request waiting.
// Each partition's records are indexed in memory, so readers never scan for
// them; the index is rebuilt from the files at start.
//
// When a 200 may be sent (serve.log.fsync):
//   batch     after an fdatasync covering the request (group commit: a thread
//             of the log syncs everything written so far, then answers every
//             append it covered; requests arriving meanwhile share the next);
//   interval  after the write; a thread syncs at most once per interval, so a
//             machine crash loses at most that long, a process crash nothing;
//   never     after the write; only the kernel's own writeback.
//
// Bounds: over `max_bytes` on disk, append() throws LogFull and takes
// nothing; a write or sync error throws LogUnavailable (the partial write is
// cut off) until a write succeeds again. A segment is deleted once every
// partition's durable commit is past it.
//
// Starting: the tail of the last segment that is not a whole record with the
// right checksum (a write torn by a crash, or damaged) is cut off and counted;
// a damaged record in an older segment cuts the rest of that segment only.
// Every record past its partition's commit is delivered again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "common/periodic_task.hpp"
#include "event_log.hpp"
#include "log_state.hpp"

namespace posthog::server {

enum class FsyncPolicy { batch, interval, never };
// "batch", "interval" or "never"; throws std::invalid_argument otherwise.
FsyncPolicy parse_fsync_policy(std::string_view name);
const char* to_string(FsyncPolicy policy) noexcept;

struct SegmentLogOptions {
  std::filesystem::path dir = "event-log";
  std::size_t partitions = 8;
  FsyncPolicy fsync = FsyncPolicy::batch;
  std::chrono::milliseconds fsync_interval{1000};       // interval: at most one fsync per this
  std::chrono::milliseconds checkpoint_interval{1000};  // how often durable commits are written
  std::uint64_t max_bytes = std::uint64_t(1) << 30;
  // At most an eighth of max_bytes: the segment being written is never
  // deleted, so a larger one would keep the log full once it filled up.
  std::uint64_t segment_bytes = std::uint64_t(64) << 20;
  std::size_t batch_events = 1000;  // events per delivered batch, at most (whole records; at least one)
  std::size_t batch_bytes = 4 << 20;
  // How long the reader lets a small batch fill before it delivers it: a
  // worker's costs per batch (a sink write, a commit) are then shared by more
  // events, for at most this much latency.
  std::chrono::microseconds linger{1000};
};

class SegmentLog final : public EventLog, public LogReader {
 public:
  static constexpr std::uint32_t max_record_bytes = 256u << 20;

  // Opens the log, recovering what a crash left, or creates it. `sync_sink`
  // makes the sink's writes durable; durable commits are written only after it
  // returned (null: the sink needs nothing). Throws std::runtime_error naming
  // the file when the folder cannot be used.
  SegmentLog(SegmentLogOptions options, std::function<void()> sync_sink);
  ~SegmentLog() override;
  SegmentLog(const SegmentLog&) = delete;
  SegmentLog& operator=(const SegmentLog&) = delete;

  // EventLog
  std::size_t partitions() const noexcept override { return options_.partitions; }
  using EventLog::append;
  void append(std::span<LogAppend> records, Durable durable) override;
  LogStatus status() const override;
  bool refusing() const noexcept override { return refusing_.load(std::memory_order_relaxed); }
  void describe(boost::json::object& ready) const override;

  // LogReader
  void start(Deliver deliver, std::function<bool()> has_room) override;
  void wake() override;
  void about_to_sink(const LogBatch& batch) override;
  void commit(LogBatch& batch) override;
  bool redeliver(LogBatch&) override { return false; }
  void stop(std::chrono::milliseconds deadline, std::function<bool()> pipeline_idle = nullptr) override;
  void finish(std::chrono::milliseconds patience) override;

  // The pipeline that held the delivered batches is gone (a supervised worker
  // process died): everything delivered and not committed is delivered again,
  // from the files. Records the worker had started to hand to the sink are
  // counted as redelivered. Returns the events to be delivered again.
  std::uint64_t redeliver_uncommitted();
  // Batches carry the epoch they were taken in; redeliver_uncommitted()
  // starts a new one, so a batch taken before it can be told from one after.
  std::uint64_t epoch() const;

  // Writes durable commits now and deletes the segments every partition is
  // past (what the checkpoint thread does every checkpoint_interval).
  void checkpoint();

 private:
  struct Segment;
  struct RecordRef {
    std::uint64_t offset;  // of its frame
    std::uint32_t size;    // of its payload
    std::uint32_t events;
    // The payload as capture handed it over, kept until it is delivered while
    // the tail cache has room: the pipeline, which usually keeps up, then
    // reads nothing back from the files (nor checks what never left memory).
    std::string cached;
  };
  struct Partition {
    std::deque<RecordRef> pending;  // appended, not committed, in log order
    std::size_t delivered = 0;      // how many of them the reader handed out
  };

  void recover();
  std::uint64_t scan_segment(Segment& segment, const std::vector<std::uint64_t>& committed);
  void open_new_segment(std::uint64_t base);
  void sync_loop();
  // Syncs everything written so far, now, and waits (at shutdown).
  void sync_written();
  void read_loop();
  struct Taken {
    std::uint64_t offset;
    std::string cached;  // empty: read it from its segment
  };
  bool take_batch(LogBatch& batch, std::vector<Taken>& taken);
  std::shared_ptr<Segment> segment_of(std::uint64_t offset) const;

  SegmentLogOptions options_;
  std::function<void()> sync_sink_;
  std::unique_ptr<LogState> state_;

  mutable std::mutex mutex_;  // segments, the index, counters
  std::condition_variable readable_;
  std::vector<std::shared_ptr<Segment>> segments_;  // oldest first; back() is written
  std::vector<Partition> index_;
  std::uint64_t written_end_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t pending_events_ = 0;
  std::uint64_t cached_bytes_ = 0;  // payloads held in RecordRef::cached
  std::uint64_t undelivered_events_ = 0;
  // What the reader is waiting for: anything (idle), a whole batch
  // (lingering), or room in the pipeline (busy). Appends wake it only when
  // what it waits for may have come, not at every request.
  enum class ReaderWait { idle, lingering, busy } reader_wait_ = ReaderWait::busy;
  static constexpr std::uint64_t tail_cache_bytes = 16 << 20;
  std::string problem_;             // the last write error, until a write succeeds
  std::string checkpoint_problem_;  // the last checkpoint's failure, until one succeeds
  std::uint64_t appended_records_ = 0, appended_events_ = 0, refused_full_ = 0, refused_unavailable_ = 0;
  std::uint64_t redelivered_events_ = 0, torn_bytes_ = 0;
  std::uint64_t durable_low_water_ = 0;
  std::atomic<bool> refusing_{false};  // refused for room until a checkpoint freed some, or an fsync failed  // no partition has a record not durably committed before it

  // Group commit. Lock order: sync_mutex_ may be taken while mutex_ is held,
  // never the other way round.
  mutable std::mutex sync_mutex_;
  std::condition_variable sync_wanted_;
  struct Waiter {
    std::uint64_t end;
    Durable done;
  };
  std::deque<Waiter> waiters_;       // appends waiting for a sync, in log order
  bool stop_syncing_ = false;
  std::thread syncer_;
  std::uint64_t durable_end_ = 0;  // written and synced up to here
  std::vector<std::shared_ptr<Segment>> unsynced_;  // rolled with bytes not yet synced
  // An fsync failed: the kernel may have dropped the pages it could not
  // write, so a later fsync would prove nothing. Nothing is acknowledged until
  // a restart checks the log again.
  std::string sync_failure_;
  std::atomic<std::uint64_t> fsyncs_{0};

  // Reading.
  Deliver deliver_;
  std::function<bool()> has_room_;
  std::thread reader_;
  bool stopping_ = false, finished_ = false;
  std::size_t next_partition_ = 0;
  std::uint64_t epoch_ = 0;  // under mutex_

  PeriodicTask checkpoints_;
};

}  // namespace posthog::server
