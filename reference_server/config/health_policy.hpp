// HealthPolicy: when a (team, plugin) counts as misbehaving, and what the
// server does about it. PostHog's plugin server had no such thing; its later
// function system did (plugin-server/src/cdp/hog-watcher.ts, the CDP_WATCHER_*
// settings), and its numbers are the defaults here:
//
//   - every (team, plugin) has a bucket of 10,000 tokens refilled at 10 a second;
//   - a hook that fails costs 100 tokens; a slow one costs 20 tokens for every
//     4.9 s it ran past 100 ms (so 20 at 5 s, 40 at 9.9 s: not capped);
//   - below 80% of the bucket the plugin is degraded (reported, still run);
//     at zero it is paused for 10 minutes (skipped); the third pause within a
//     day disables it until an admin enables it again;
//   - a call still running after the hard timeout (PostHog's TASK_TIMEOUT,
//     30 s) is reported at once and empties the bucket.
//
// Set in serve.health (README's configuration table); `enabled: false` turns
// every state but healthy off, the hard-timeout report included.
#pragma once

#include <chrono>

namespace posthog::server {

struct HealthPolicy {
  bool enabled = true;
  double bucket_tokens = 10'000;
  double refill_per_second = 10;
  double error_cost = 100;
  double slow_cost = 20;                       // per (slow_to - slow_from) past slow_from
  std::chrono::milliseconds slow_from{100};
  std::chrono::milliseconds slow_to{5'000};
  double degraded_below = 0.8;                 // of the bucket
  std::chrono::milliseconds pause{600'000};    // CDP_WATCHER_DISABLED_TEMPORARY_TTL
  unsigned pauses_before_disable = 3;          // CDP_WATCHER_DISABLED_TEMPORARY_MAX_COUNT ...
  std::chrono::milliseconds pause_memory{86'400'000};  // ... within CDP_WATCHER_TTL
  std::chrono::milliseconds hard_timeout{30'000};      // TASK_TIMEOUT
};

}  // namespace posthog::server
