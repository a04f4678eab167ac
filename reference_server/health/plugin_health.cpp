#include "plugin_health.hpp"

#include <algorithm>
#include <cmath>

namespace posthog::server {

std::string_view to_string(HealthState s) noexcept {
  switch (s) {
    case HealthState::healthy: return "healthy";
    case HealthState::degraded: return "degraded";
    case HealthState::paused: return "paused";
    case HealthState::disabled: return "disabled";
  }
  return "unknown";
}

double call_cost(const HealthPolicy& policy, std::chrono::nanoseconds took, bool failed) noexcept {
  double cost = failed ? policy.error_cost : 0;
  auto const past = std::chrono::duration<double, std::milli>(took - policy.slow_from).count();
  auto const span = std::chrono::duration<double, std::milli>(policy.slow_to - policy.slow_from).count();
  // PostHog rounds the slow cost and does not cap it: a call twice as slow costs twice as much.
  if (past > 0 && span > 0) cost += std::round(policy.slow_cost * past / span);
  return cost;
}

HealthState PluginHealth::by_tokens(const HealthPolicy& policy) const noexcept {
  double const rating = tokens_ / policy.bucket_tokens;
  if (rating >= policy.degraded_below) return HealthState::healthy;
  return rating > 0 ? HealthState::degraded : HealthState::paused;
}

void PluginHealth::refill(const HealthPolicy& policy, std::int64_t now_ms) noexcept {
  if (!started_) {
    started_ = true;
    tokens_ = policy.bucket_tokens;
    refilled_ms_ = now_ms;
    return;
  }
  if (now_ms > refilled_ms_) {
    tokens_ = std::min(policy.bucket_tokens, tokens_ + (now_ms - refilled_ms_) / 1000.0 * policy.refill_per_second);
    refilled_ms_ = now_ms;
  }
}

std::optional<HealthTransition> PluginHealth::move_to(HealthState to, std::int64_t now_ms, std::string reason) {
  auto const from = state_.load(std::memory_order_relaxed);
  if (from == to) return std::nullopt;
  state_.store(to, std::memory_order_relaxed);
  last_ = HealthTransition{from, to, now_ms, std::move(reason)};
  return last_;
}

std::optional<HealthTransition> PluginHealth::charge(const HealthPolicy& policy, double cost, std::int64_t now_ms,
                                                     std::string reason) {
  if (!policy.enabled || cost <= 0) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto const now_state = state_.load(std::memory_order_relaxed);
  if (now_state == HealthState::paused || now_state == HealthState::disabled) return std::nullopt;
  refill(policy, now_ms);
  tokens_ -= cost;
  auto next = by_tokens(policy);
  if (next != HealthState::paused) return move_to(next, now_ms, std::move(reason));

  tokens_ = -1;  // as PostHog's bucket: empty, and a pause's refill starts from there
  while (!pauses_.empty() && now_ms - pauses_.front() >= policy.pause_memory.count()) pauses_.pop_front();
  pauses_.push_back(now_ms);
  if (pauses_.size() >= policy.pauses_before_disable) {
    pauses_.clear();
    return move_to(HealthState::disabled, now_ms,
                   reason + "; paused " + std::to_string(policy.pauses_before_disable) +
                       " times within " + std::to_string(policy.pause_memory.count() / 3'600'000) +
                       " h, so disabled until an admin enables it");
  }
  paused_until_ms_ = now_ms + policy.pause.count();
  return move_to(HealthState::paused, now_ms,
                 reason + "; out of tokens, paused for " + std::to_string(policy.pause.count() / 1000) + " s");
}

std::optional<HealthTransition> PluginHealth::refresh(const HealthPolicy& policy, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto const s = state_.load(std::memory_order_relaxed);
  if (s == HealthState::disabled || !started_) return std::nullopt;
  if (s == HealthState::paused && now_ms < paused_until_ms_) return std::nullopt;
  refill(policy, now_ms);
  auto next = by_tokens(policy);
  if (next == HealthState::paused) next = HealthState::degraded;  // the pause is over: run, on what is left
  if (s == HealthState::paused) paused_until_ms_ = 0;
  return move_to(next, now_ms, s == HealthState::paused ? "the pause is over" : "the bucket refilled");
}

std::optional<HealthTransition> PluginHealth::enable(const HealthPolicy& policy, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  tokens_ = policy.bucket_tokens;
  refilled_ms_ = now_ms;
  started_ = true;
  paused_until_ms_ = 0;
  pauses_.clear();
  return move_to(HealthState::healthy, now_ms, "enabled by an admin");
}

PluginHealth::Snapshot PluginHealth::snapshot(const HealthPolicy& policy, std::int64_t now_ms) const {
  std::lock_guard lock(mutex_);
  Snapshot s;
  s.state = state_.load(std::memory_order_relaxed);
  s.tokens = started_ ? std::min(policy.bucket_tokens,
                                 tokens_ + std::max<std::int64_t>(0, now_ms - refilled_ms_) / 1000.0 *
                                               policy.refill_per_second)
                      : policy.bucket_tokens;
  if (s.state == HealthState::paused || s.state == HealthState::disabled) s.tokens = std::min(s.tokens, tokens_);
  s.paused_until_ms = s.state == HealthState::paused ? paused_until_ms_ : 0;
  for (auto at : pauses_) s.recent_pauses += now_ms - at < policy.pause_memory.count() ? 1 : 0;
  s.last = last_;
  return s;
}

}  // namespace posthog::server
