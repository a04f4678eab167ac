// Scheduler: runs run_every_minute / hour / day for every (team, plugin) that
// defines them, once per wall-clock period.
//
// Each look at the clock asks the ScheduleLock to move each task to the period
// now is in; the one caller that moves it queues one "$run_every_*" job per
// (team, plugin) with the hook, and the JobRunner's threads run them. So:
//   - one run per period: the lock moves a task forward once per period, and
//     it is kept in the store, so a restart within a period does not repeat it;
//   - after downtime a missed period runs once, not once per period missed:
//     the lock jumps straight to the current period;
//   - a run still queued or running when the next period starts makes that
//     period skip this (team, plugin) (PostHog skipped it too), counted;
//   - a first start waits for the next boundary, as cron would;
//   - with several servers sharing the lock, exactly one runs each period.
//
//   Scheduler schedules(job_queue, live_chains, lock, log);
//   schedules.start(&jobs);   // wakes the job threads when it queued runs
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "generations/live_chains.hpp"
#include "common/plugin_log.hpp"
#include "stores/job_queue.hpp"
#include "common/periodic_task.hpp"
#include "stores/schedule_lock.hpp"

namespace posthog::server {

class JobRunner;

struct ScheduleState {
  std::string task;                 // "run_every_minute", ...
  std::int64_t last_period_ms = 0;  // the period it last ran for (0: none yet)
  std::int64_t next_run_ms = 0;     // the next boundary
  std::uint64_t runs_queued = 0;    // by this server
  std::uint64_t runs_skipped = 0;   // previous run still going
};

class Scheduler {
 public:
  using Clock = std::function<std::int64_t()>;  // milliseconds since the epoch

  // Seeds the lock with the current periods (a first start runs none of them).
  Scheduler(JobQueue& queue, const LiveChains& chains, ScheduleLock& lock, PluginLog& log, Clock now);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // One look at the clock. Returns how many runs it queued.
  std::size_t step();
  // Looks at the clock at every boundary (and at least every second) on a
  // thread of its own, waking `jobs` when it queued runs.
  void start(JobRunner* jobs);
  void stop();
  std::vector<ScheduleState> state();

 private:
  void seed(std::int64_t at_ms);
  JobQueue& queue_;
  const LiveChains& chains_;
  ScheduleLock& lock_;
  PluginLog& log_;
  Clock now_;
  std::mutex mutex_;  // counters, and one step at a time
  std::vector<ScheduleState> states_;
  // Per task, the period this scheduler last saw settled (claimed here or
  // found claimed): a look at the clock within it touches neither the store
  // nor the chains.
  std::vector<std::int64_t> known_period_;
  bool seeded_ = false;  // the lock knows every task's first period
  PeriodicTask task_;  // last: stopped first
};

}  // namespace posthog::server
