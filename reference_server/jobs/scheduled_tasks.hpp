// The three schedules of PostHog's plugin contract, and the job names under
// which the Scheduler queues their runs. Periods are wall-clock periods in UTC:
// every minute at :00 seconds, every hour at :00, every day at 00:00 UTC
// (PostHog's cron "* * * * *", "0 * * * *", "0 0 * * *", in the server's zone).
#pragma once

#include <posthog/abi.h>

#include <array>
#include <cstdint>
#include <string_view>

#include "host/plugin_instance.hpp"

namespace posthog::server {

struct ScheduledTask {
  std::string_view job_name;  // "$run_every_minute": '$' marks the server's jobs
  std::string_view hook_name;
  ScheduledHook hook;
  std::int64_t period_ms;
};

inline constexpr std::array<ScheduledTask, 3> scheduled_tasks{{
    {"$run_every_minute", "run_every_minute", &posthog_plugin_vtable::run_every_minute, 60'000},
    {"$run_every_hour", "run_every_hour", &posthog_plugin_vtable::run_every_hour, 3'600'000},
    {"$run_every_day", "run_every_day", &posthog_plugin_vtable::run_every_day, 86'400'000},
}};

// The task a job name stands for; null for a plugin's own job.
inline const ScheduledTask* scheduled_task(std::string_view job_name) noexcept {
  if (job_name.empty() || job_name.front() != '$') return nullptr;
  for (auto const& t : scheduled_tasks)
    if (t.job_name == job_name) return &t;
  return nullptr;
}

// The start of the period `now_ms` falls in (the Unix epoch began on a UTC midnight).
constexpr std::int64_t period_start(std::int64_t now_ms, std::int64_t period_ms) noexcept {
  return now_ms - ((now_ms % period_ms) + period_ms) % period_ms;
}

}  // namespace posthog::server
