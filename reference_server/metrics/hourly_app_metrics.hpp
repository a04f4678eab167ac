// HourlyAppMetrics: PostHog's app metrics, kept for the last 24 hours: per
// (team, plugin), the hook calls that succeeded, those that failed, and the
// time they took, an hour at a time (UTC hours). What the console charts on a
// team's plugin page.
//
// A pair's ring (HourlyCalls) is made on its first call, so a pair that never
// runs costs nothing; one that does costs about 0.8 KiB. A call adds to the
// bucket of its hour with two relaxed atomic adds; a bucket whose hour came
// round again (a day later) is emptied first, once, under a flag. Per server
// and in memory, like plugin health: a restart starts every history empty,
// and each server of a cluster counts the calls it made.
//
//   HourlyAppMetrics history;
//   HourlyCalls& calls = history.of(team_id, "geoip");
//   calls.record(epoch_ms, /*failed=*/false, took_ns);
//   auto day = calls.last_day(epoch_ms);      // 24 hours, the oldest first
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace posthog::server {

struct AppMetricsHour {
  std::int64_t hour_start_ms = 0;
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  std::uint64_t duration_ns = 0;  // of every call counted, successes and failures
};

class HourlyCalls {
 public:
  static constexpr std::size_t hours = 24;
  static constexpr std::int64_t hour_ms = 3'600'000;

  // A call that ended at `now_ms` (the wall clock), failed or not, after `took_ns`.
  void record(std::int64_t now_ms, bool failed, std::int64_t took_ns) noexcept;
  // The 24 hours up to and including the one `now_ms` is in, the oldest first;
  // an hour without calls reads as zeros.
  std::vector<AppMetricsHour> last_day(std::int64_t now_ms) const;

 private:
  struct Bucket {
    std::atomic<std::int64_t> hour{-1};  // hours since the epoch; -1: never used
    std::atomic<std::uint64_t> successes{0};
    std::atomic<std::uint64_t> failures{0};
    std::atomic<std::uint64_t> duration_ns{0};
  };
  std::array<Bucket, hours> buckets_;
  std::atomic_flag emptying_ = ATOMIC_FLAG_INIT;  // one thread empties a bucket for its new hour
};

class HourlyAppMetrics {
 public:
  // Found or made; the address never changes. Throws std::bad_alloc only.
  HourlyCalls& of(std::int64_t team_id, std::string_view plugin);
  // Null when the pair has made no call since the process started.
  const HourlyCalls* find(std::int64_t team_id, std::string_view plugin) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::int64_t, std::string>, std::unique_ptr<HourlyCalls>> rings_;
};

}  // namespace posthog::server
