#include "scheduler.hpp"

#include <algorithm>

#include "common/event_ids.hpp"
#include "job_runner.hpp"
#include "scheduled_tasks.hpp"

namespace posthog::server {

Scheduler::Scheduler(JobQueue& queue, const LiveChains& chains, ScheduleLock& lock, PluginLog& log, Clock now)
    : queue_(queue), chains_(chains), lock_(lock), log_(log), now_(std::move(now)) {
  for (auto const& task : scheduled_tasks) {
    known_period_.push_back(0);
    states_.push_back({std::string(task.hook_name), 0, 0, 0, 0});
  }
  // Seeded here when the lock can be reached; otherwise by the first step that
  // reaches it (a shared lock may be down at start, which is not fatal).
  try {
    seed(now_());
  } catch (const std::exception& e) {
    log_.log({0, "schedules", POSTHOG_LOG_WARN, std::string("schedule lock not reached at start, tried again each "
                                                            "second: ") + e.what(),
              std::chrono::system_clock::now()});
  }
}

void Scheduler::seed(std::int64_t at) {
  if (seeded_) return;
  for (auto const& task : scheduled_tasks) lock_.seed(task.hook_name, period_start(at, task.period_ms));
  seeded_ = true;
}

Scheduler::~Scheduler() { stop(); }

std::size_t Scheduler::step() {
  std::lock_guard guard(mutex_);
  auto const at = now_();
  seed(at);
  std::size_t queued = 0;
  for (std::size_t i = 0; i < scheduled_tasks.size(); ++i) {
    auto const& task = scheduled_tasks[i];
    auto const period = period_start(at, task.period_ms);
    if (period <= known_period_[i]) continue;  // settled already: by this server or another
    std::vector<std::pair<std::int64_t, std::string>> copies;
    {
      auto const set = chains_.current();
      for (auto const& [team_id, spec] : set->teams())
        if (auto const* chain = set->chain(team_id))
          for (auto const& p : chain->plugins())
            if (p->has_scheduled(task.hook)) copies.emplace_back(team_id, p->name());
    }
    // From the milliseconds: a nanosecond time_point overflows past 2262, where a
    // sped-up clock (serve.jobs.clock_speed) lands.
    auto const payload = "{\"period\":\"" + std::string(iso8601_text(period).view()) + "\"}";
    std::vector<std::pair<std::int64_t, std::string>> skipped;
    bool const claimed = lock_.claim(task.hook_name, period, [&] {
      if (!copies.empty()) skipped = queue_.enqueue_unless_pending(copies, task.job_name, payload, at);
    });
    // Not ours and not moved yet: another server holds the lock for it right
    // now (or died holding it, until the lock runs out): look again next pass.
    if (!claimed && lock_.last_period(task.hook_name).value_or(0) < period) continue;
    known_period_[i] = period;
    if (!claimed || copies.empty()) continue;
    queued += copies.size() - skipped.size();
    states_[i].runs_queued += copies.size() - skipped.size();
    states_[i].runs_skipped += skipped.size();
    for (auto const& [team_id, plugin] : skipped)
      log_.log({team_id, plugin, POSTHOG_LOG_WARN,
                std::string(task.hook_name) + " skipped this period: the previous run is still queued or running",
                std::chrono::system_clock::now()});
  }
  return queued;
}

std::vector<ScheduleState> Scheduler::state() {
  std::lock_guard guard(mutex_);
  auto const at = now_();
  auto out = states_;
  for (std::size_t i = 0; i < scheduled_tasks.size(); ++i) {
    auto const& task = scheduled_tasks[i];
    out[i].last_period_ms = lock_.last_period(task.hook_name).value_or(0);
    out[i].next_run_ms = period_start(at, task.period_ms) + task.period_ms;
  }
  return out;
}

void Scheduler::start(JobRunner* jobs) {
  task_.start(
      [this, jobs] {
        if (step() > 0 && jobs) jobs->wake();
        // Just past the next minute boundary, or a second from now, whichever is first.
        auto const at = now_();
        auto const next = period_start(at, 60'000) + 60'000 + 5;
        return std::chrono::milliseconds(std::clamp<std::int64_t>(next - at, 1, 1'000));
      },
      [this](const std::exception& e) {
        log_.log({0, "schedules", POSTHOG_LOG_ERROR, std::string("schedule pass failed, retried in a second: ") + e.what(),
                  std::chrono::system_clock::now()});
      });
}

void Scheduler::stop() { task_.stop(); }

}  // namespace posthog::server
