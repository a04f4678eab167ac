// StreamConsumer: the worker side of ingestion through Redis Streams.
//
// Every worker server reads the event streams (EventStream) in one consumer
// group, "workers". Order per (team, distinct_id) is kept by giving each
// partition to one worker at a time: a worker holds a lease on a partition
// (`<prefix>lease:<n>`, a key holding its id with a TTL, renewed every third
// of it, or every second if sooner) and reads only the partitions it holds. Live workers heartbeat in a
// sorted set, and each takes its fair share, ceil(partitions / live workers):
// a worker that starts takes free partitions, one over its share releases the
// extra ones once their events in hand are acknowledged, and the partitions of
// a worker that died (SIGKILL, a lost machine) are free when its leases run
// out. The worker that takes a partition over first claims every entry still
// pending in it (XAUTOCLAIM) and runs those, then reads new ones: nothing
// acknowledged by capture is lost, and an event can be run twice when its
// worker died between the sink and the acknowledgement (at-least-once).
//
// An entry is acknowledged (XACK, then XDEL so that the stream's length counts
// only work left) once the worker says the sink and the export buffers have its
// events; acknowledgements are sent in batches by the reading thread, and kept
// and sent again while Redis is away.
//
// Failure model: a worker that stalls longer than the lease (a stopped VM)
// loses its partitions to another; until it notices, both may run the same
// entries (duplicates, never losses), and events of one person may be written
// out of order across the two sinks.
//
//   StreamConsumer consumer(pool, prefix, layout, policy, id, deliver, report);
//   consumer.start();             // deliver(partition, entries) from the reading thread
//   consumer.acknowledge(p, ids); // from a worker, after the sink
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "event_stream.hpp"
#include "stores/redis/redis_connection.hpp"

namespace posthog::server {

class RedisPool;

struct StreamEntry {
  std::string id;
  std::string record;  // an event log record (log_record.hpp); empty when the entry has none
};

struct ConsumerPolicy {
  std::chrono::milliseconds lease{10'000};  // a dead worker's partitions are taken over after this
  std::size_t read_entries = 64;            // per read, per stream
  std::chrono::milliseconds block{100};     // how long a read waits for new entries
};

struct ConsumerStatus {
  std::vector<std::size_t> partitions;  // held now
  std::uint64_t entries_read = 0;
  std::uint64_t entries_claimed = 0;  // taken over from a worker that died or let go
  std::uint64_t entries_acknowledged = 0;
  std::uint64_t acknowledgements_waiting = 0;
  bool reachable = true;
};

class StreamConsumer {
 public:
  using Deliver = std::function<void(std::size_t partition, std::vector<StreamEntry>&& entries)>;
  // A diagnostic: ("stream_paused" | "stream_resumed" | "stream_error" | "stream_partitions", message).
  using Report = std::function<void(const char* type, const std::string& message)>;

  StreamConsumer(RedisPool& pool, std::string prefix, StreamLayout layout, ConsumerPolicy policy,
                 std::string consumer_id, Deliver deliver, Report report);
  ~StreamConsumer();
  StreamConsumer(const StreamConsumer&) = delete;
  StreamConsumer& operator=(const StreamConsumer&) = delete;

  // `may_read`: false while the local pipeline is full (nothing is read then).
  void start(std::function<bool()> may_read);
  // Stops reading; acknowledgements are still taken. Returns once no delivery is under way.
  void stop_reading();
  // After the pipeline drained: sends the last acknowledgements (for up to
  // `patience`) and gives the leases back, so that the others take over now.
  void finish(std::chrono::milliseconds patience);

  // From a worker: these entries of `partition` are in the sink and export buffers.
  void acknowledge(std::size_t partition, std::vector<std::string> ids);
  // From a worker: these entries could not be run out (the export queue
  // refused them): they are taken over again from Redis and delivered anew.
  void run_again(std::size_t partition, const std::vector<std::string>& ids);

  ConsumerStatus status();
  const std::string& id() const noexcept { return id_; }

 private:
  struct Held {
    bool claimed = false;    // every pending entry taken over (ours too, after an error)
    bool releasing = false;  // over our share: read no more, give back once acknowledged
  };

  void read_loop();
  void lease_loop();
  void keep_leases();
  void take_over(std::size_t partition);
  void forget_idle_consumers(const std::string& key);
  void read_new(const std::vector<std::size_t>& partitions);
  bool flush_acknowledgements();
  void release(std::size_t partition);
  void deliver(std::size_t partition, std::vector<StreamEntry>&& entries, bool claimed);
  void went_down(const std::string& why);
  void came_back();

  RedisPool& pool_;
  RedisConnection reader_;  // blocking reads have a connection of their own
  std::string prefix_;
  StreamLayout layout_;
  ConsumerPolicy policy_;
  std::string id_;
  Deliver deliver_;
  Report report_;
  std::function<bool()> may_read_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::size_t, Held> held_;
  // Ids delivered and not yet acknowledged to Redis, per partition: kept when
  // a lease is lost, so that a partition taken back is not run twice here.
  std::map<std::size_t, std::set<std::string>> in_hand_;
  std::uint64_t releases_ = 0;  // leases given back: a lease pass that overlapped one is not trusted
  std::map<std::size_t, std::vector<std::string>> to_acknowledge_;
  bool stop_reading_ = false, stopping_ = false, down_ = false;
  std::uint64_t read_ = 0, claimed_ = 0, acknowledged_ = 0;
  std::thread reader_thread_, lease_thread_;
  std::atomic<bool> reader_done_{false};
};

}  // namespace posthog::server
