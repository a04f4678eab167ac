// ExportRunner: hands the exported events to the plugins' export_events, in
// batches, and retries the batches a plugin could not take yet.
//
// Rules, as PostHog's plugin server had them (src/worker/vm/upgrades/export-events.ts):
//   - per (team, plugin), events are handed over when the pending ones reach
//     `buffer_bytes` (default 1 MiB) or the oldest is `buffer_age` old (10 s),
//     or what the team's config says (exportEventsBufferBytes/Seconds,
//     export_settings.hpp); events named in exportEventsToIgnore never come here;
//   - a plugin paused or disabled for its health keeps its batches waiting;
//   - a plugin that throws posthog::RetryError gets the same batch again later:
//     retry n waits retry_base·2^(n-1) (6 s, 12 s, 24 s, ... with ± jitter), up
//     to `max_retries` (15: the last one about 54 hours after the first try);
//     after that the batch is a dead letter, kept in the store until replayed;
//   - any other exception is logged with the batch and not retried (the events
//     count as undelivered), as PostHog did.
// Pending events and batches live in the store (ExportQueue), so a restart or a
// crash loses none. step() is one pass with the injected clock; start() runs
// it on a thread of its own every `interval`.
//
//   ExportRunner exports(queue, live_chains, log);
//   exports.start();
//   exports.enqueue(rows);              // a worker, after the sink took the events
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "generations/live_chains.hpp"
#include "common/plugin_log.hpp"
#include "common/epoch_ms.hpp"
#include "common/periodic_task.hpp"
#include "common/retry_backoff.hpp"
#include "stores/export_queue.hpp"

namespace posthog::server {

struct ExportPolicy {
  std::uint64_t buffer_bytes = 1024 * 1024;
  std::chrono::milliseconds buffer_age{10'000};
  std::size_t max_batch_events = 10'000;
  int max_retries = 15;
  std::chrono::milliseconds retry_base{6'000};
  double jitter = 0.1;  // each wait is stretched or shrunk by up to this fraction
};

// PostHog's export metrics, per (team, plugin).
struct ExportTally {
  std::uint64_t events_seen = 0;
  std::uint64_t events_delivered = 0;
  std::uint64_t events_undelivered = 0;  // refused by an error other than RetryError, or dead
  std::uint64_t retry_errors = 0;
  std::uint64_t other_errors = 0;
  std::uint64_t postponed = 0;  // hand-overs put off while the plugin was paused or disabled (health)
  std::string last_error;
};

class ExportRunner {
 public:
  using Clock = std::function<std::int64_t()>;  // milliseconds since the epoch

  ExportRunner(ExportQueue& queue, const LiveChains& chains, PluginLog& log, ExportPolicy policy = {},
               Clock now = epoch_ms_now);
  ~ExportRunner();
  ExportRunner(const ExportRunner&) = delete;
  ExportRunner& operator=(const ExportRunner&) = delete;

  // Queues events for export (throws StoreError: then nothing was queued).
  void enqueue(const std::vector<ExportRow>& rows);
  // One pass: cut the batches that are big or old enough, hand every due batch
  // to its plugin. Returns how many batches were handed over.
  std::size_t step();
  void start(std::chrono::milliseconds interval = std::chrono::milliseconds(100));
  void stop();

  // The wait before retry `n` (1: the first retry), jitter included.
  std::int64_t retry_delay_ms(int n);
  const ExportPolicy& policy() const noexcept { return policy_; }
  ExportQueue& queue() noexcept { return queue_; }
  std::map<std::pair<std::int64_t, std::string>, ExportTally> tallies() const;

 private:
  struct Bounds {
    std::uint64_t bytes;
    std::chrono::milliseconds age;
  };
  Bounds bounds_of(const ChainSet& set, std::int64_t team_id, const std::string& plugin) const;
  static const TeamPlugin* exporter(const ChainSet& set, std::int64_t team_id, const std::string& plugin);
  void hand_over(const ExportBatch& batch, std::int64_t now);
  ExportTally& tally(std::int64_t team_id, const std::string& plugin);  // with tally_mutex_ held

  // What is pending per (team, plugin), kept here as events are queued (read
  // from the store once, at start), so a pass does not scan the pending table.
  // A count may run ahead of the table (its rows already cut): the next cut
  // finds nothing and clears it. It never runs behind this server's own
  // appends; a queue shared by a cluster also holds other servers' (one that
  // died leaves its pending events there), so it is read again every buffer age.
  struct Buffered {
    std::uint64_t bytes = 0;
    std::int64_t oldest_ms = 0;
  };

  ExportQueue& queue_;
  const LiveChains& chains_;
  PluginLog& log_;
  ExportPolicy policy_;
  Clock now_;
  RetryBackoff backoff_;
  mutable std::mutex tally_mutex_;
  std::map<std::pair<std::int64_t, std::string>, ExportTally> tallies_;
  std::map<std::pair<std::int64_t, std::string>, Buffered> buffered_;  // under tally_mutex_
  std::int64_t last_read_ms_ = 0;  // when pending() was last read (under step_mutex_)
  std::mutex step_mutex_;  // one pass at a time
  PeriodicTask task_;  // last: stopped first, while everything it uses is still there
};

}  // namespace posthog::server
