#include "hourly_app_metrics.hpp"

namespace posthog::server {

void HourlyCalls::record(std::int64_t now_ms, bool failed, std::int64_t took_ns) noexcept {
  auto const hour = now_ms / hour_ms;
  auto& b = buckets_[static_cast<std::size_t>(hour % static_cast<std::int64_t>(hours))];
  if (b.hour.load(std::memory_order_acquire) != hour) {
    // The first call of a new hour empties what the bucket held a day ago. A
    // bucket only changes hands once a day, so the flag is almost never contended.
    while (emptying_.test_and_set(std::memory_order_acquire)) {
    }
    auto const held = b.hour.load(std::memory_order_relaxed);
    if (held < hour) {
      b.successes.store(0, std::memory_order_relaxed);
      b.failures.store(0, std::memory_order_relaxed);
      b.duration_ns.store(0, std::memory_order_relaxed);
      b.hour.store(hour, std::memory_order_release);
    }
    emptying_.clear(std::memory_order_release);
    // A call that ended in an hour whose bucket already counts a later one
    // (its thread stood still for a day) is too old to chart.
    if (held > hour) return;
  }
  (failed ? b.failures : b.successes).fetch_add(1, std::memory_order_relaxed);
  b.duration_ns.fetch_add(took_ns > 0 ? static_cast<std::uint64_t>(took_ns) : 0, std::memory_order_relaxed);
}

std::vector<AppMetricsHour> HourlyCalls::last_day(std::int64_t now_ms) const {
  auto const current = now_ms / hour_ms;
  std::vector<AppMetricsHour> out;
  out.reserve(hours);
  for (auto hour = current - static_cast<std::int64_t>(hours) + 1; hour <= current; ++hour) {
    AppMetricsHour h;
    h.hour_start_ms = hour * hour_ms;
    if (hour >= 0) {
      auto const& b = buckets_[static_cast<std::size_t>(hour % static_cast<std::int64_t>(hours))];
      if (b.hour.load(std::memory_order_acquire) == hour) {
        h.successes = b.successes.load(std::memory_order_relaxed);
        h.failures = b.failures.load(std::memory_order_relaxed);
        h.duration_ns = b.duration_ns.load(std::memory_order_relaxed);
      }
    }
    out.push_back(h);
  }
  return out;
}

HourlyCalls& HourlyAppMetrics::of(std::int64_t team_id, std::string_view plugin) {
  std::lock_guard lock(mutex_);
  auto& ring = rings_[{team_id, std::string(plugin)}];
  if (!ring) ring = std::make_unique<HourlyCalls>();
  return *ring;
}

const HourlyCalls* HourlyAppMetrics::find(std::int64_t team_id, std::string_view plugin) const {
  std::lock_guard lock(mutex_);
  auto it = rings_.find({team_id, std::string(plugin)});
  return it == rings_.end() ? nullptr : it->second.get();
}

}  // namespace posthog::server
