// JobRunner: runs the jobs in the JobQueue when they are due, on a few threads
// of its own, and is the JobSink behind meta.jobs(...).
//
// Jobs run on their own threads, not on the event workers: a job that takes a
// minute must not hold up a partition's events (PostHog ran both on one pool,
// and a long runEveryMinute delayed ingestion). The rules:
//   - a handler that returns has its job deleted;
//   - posthog::RetryError: the job runs again after retry_base·2^(n-1) ± jitter,
//     at most `max_retries` times, then it is failed (a dead letter); the
//     handler sees meta.attempt() and meta.max_attempts();
//   - any other exception: failed at once, logged with the job;
//   - a failed job stays in the store, listed by the admin API, until replayed;
//   - scheduled runs ("$run_every_minute", ... queued by the Scheduler) are
//     never retried: the next period is the retry, as in PostHog;
//   - while the plugin is paused or disabled for its health, its jobs wait
//     (a minute at a time, attempts untouched) and its scheduled runs skip.
// step() runs every due job on the calling thread with the injected clock
// (tests); start() runs them on `threads` threads.
//
//   JobRunner jobs(queue, live_chains, log);
//   services.jobs = &jobs;  // meta.jobs(...) now queues here
//   jobs.start();
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "host/plugin_scope.hpp"
#include "generations/live_chains.hpp"
#include "common/plugin_log.hpp"
#include "stores/job_queue.hpp"
#include "common/epoch_ms.hpp"
#include "common/retry_backoff.hpp"

namespace posthog::server {

struct JobPolicy {
  unsigned threads = 2;
  int max_retries = 15;
  std::chrono::milliseconds retry_base{6'000};
  double jitter = 0.1;
  std::chrono::milliseconds idle_poll{1'000};  // longest sleep with nothing due (a job queued wakes it)
};

// Per (team, plugin), since this process started. The plugin's own jobs and
// its scheduled runs are counted apart.
struct JobTally {
  std::uint64_t runs = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t retry_errors = 0;
  std::uint64_t failed = 0;  // other errors, and RetryErrors past the last attempt
  std::uint64_t scheduled_ok = 0;
  std::uint64_t scheduled_failed = 0;
  std::uint64_t postponed = 0;  // jobs put off and scheduled runs skipped while the plugin was paused or disabled
  std::string last_error;
};

class JobRunner final : public JobSink {
 public:
  using Clock = std::function<std::int64_t()>;  // milliseconds since the epoch

  JobRunner(JobQueue& queue, const LiveChains& chains, PluginLog& log, JobPolicy policy = {},
            Clock now = epoch_ms_now);
  ~JobRunner() override;
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  void enqueue(std::int64_t team_id, const std::string& plugin, std::string_view name, std::string_view payload_json,
               std::int64_t run_at_ms) override;
  // Claims one due job and runs it here. False: none was due.
  bool run_one();
  // Runs every job due now, here. Returns how many ran.
  std::size_t step();
  void start();
  void stop();
  // A job may be due: idle threads look again (the Scheduler calls it too).
  void wake();

  JobQueue& queue() noexcept { return queue_; }
  const JobPolicy& policy() const noexcept { return policy_; }
  std::uint64_t running() const noexcept { return running_.load(std::memory_order_relaxed); }
  std::map<std::pair<std::int64_t, std::string>, JobTally> tallies() const;

 private:
  void run(const Job& job);
  void finish(const Job& job, posthog_status status, const posthog_error& error);
  void count(const Job& job, const std::function<void(JobTally&)>& change);

  JobQueue& queue_;
  const LiveChains& chains_;
  PluginLog& log_;
  JobPolicy policy_;
  Clock now_;
  RetryBackoff backoff_;
  std::atomic<std::uint64_t> running_{0};
  mutable std::mutex tally_mutex_;
  std::map<std::pair<std::int64_t, std::string>, JobTally> tallies_;
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::uint64_t wakeups_ = 0;  // under wake_mutex_
  std::vector<std::thread> threads_;
};

}  // namespace posthog::server
