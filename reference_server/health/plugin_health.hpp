// PluginHealth: one (team, plugin)'s token bucket and the state it puts the
// plugin in (health_policy.hpp has the rules and where they come from).
//
//   PluginHealth health;
//   if (health.state() == HealthState::paused) health.resume_if_due(policy, now_ms);
//   if (auto t = health.charge(policy, cost, now_ms, "process_event threw")) report(*t);
//
// state() is one relaxed atomic load: it is read before every hook call.
// Everything else takes a small lock, and is only reached when a call failed,
// ran slow, or the plugin is not healthy. Times are milliseconds on whatever
// clock the caller uses (tests move it by hand).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "config/health_policy.hpp"

namespace posthog::server {

enum class HealthState : std::uint8_t { healthy, degraded, paused, disabled };

std::string_view to_string(HealthState s) noexcept;

struct HealthTransition {
  HealthState from = HealthState::healthy;
  HealthState to = HealthState::healthy;
  std::int64_t at_ms = 0;
  std::string reason;
};

// What a hook call costs: error_cost when it failed, plus the slow-call cost.
double call_cost(const HealthPolicy& policy, std::chrono::nanoseconds took, bool failed) noexcept;

class PluginHealth {
 public:
  HealthState state() const noexcept { return state_.load(std::memory_order_relaxed); }

  // Takes `cost` tokens (after refilling for the time since the last charge).
  // Returns the transition it caused, if any. Ignored while paused or disabled.
  std::optional<HealthTransition> charge(const HealthPolicy& policy, double cost, std::int64_t now_ms,
                                         std::string reason);
  // Refills, and ends a pause whose time is up (the bucket decides between
  // healthy and degraded). Returns the transition, if any.
  std::optional<HealthTransition> refresh(const HealthPolicy& policy, std::int64_t now_ms);
  // An admin's doing: a full bucket, the pause history forgotten.
  std::optional<HealthTransition> enable(const HealthPolicy& policy, std::int64_t now_ms);

  struct Snapshot {
    HealthState state = HealthState::healthy;
    double tokens = 0;
    std::int64_t paused_until_ms = 0;  // 0 unless paused
    unsigned recent_pauses = 0;        // within the policy's pause_memory
    std::optional<HealthTransition> last;
  };
  Snapshot snapshot(const HealthPolicy& policy, std::int64_t now_ms) const;

 private:
  std::optional<HealthTransition> move_to(HealthState to, std::int64_t now_ms, std::string reason);
  HealthState by_tokens(const HealthPolicy& policy) const noexcept;
  void refill(const HealthPolicy& policy, std::int64_t now_ms) noexcept;

  std::atomic<HealthState> state_{HealthState::healthy};
  mutable std::mutex mutex_;
  bool started_ = false;  // the bucket is full until the first charge
  double tokens_ = 0;
  std::int64_t refilled_ms_ = 0;
  std::int64_t paused_until_ms_ = 0;
  std::deque<std::int64_t> pauses_;  // when each recent pause began
  std::optional<HealthTransition> last_;
};

}  // namespace posthog::server
