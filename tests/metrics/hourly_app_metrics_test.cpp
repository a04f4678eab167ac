// PostHog's app metrics, 24 hours of them: each call counted in its UTC hour,
// the day read oldest first with the quiet hours as zeros, and a bucket that
// comes round a day later emptied before it counts again.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "metrics/hourly_app_metrics.hpp"

namespace hourly_app_metrics_test {

using posthog::server::HourlyAppMetrics;
using posthog::server::HourlyCalls;

constexpr std::int64_t hour = HourlyCalls::hour_ms;
constexpr std::int64_t day_start = 1'800'000'000'000 / (24 * hour) * (24 * hour);  // a midnight UTC

TEST_CASE("calls are counted in their hour, the day read oldest first", "[metrics][app_metrics]") {
  HourlyCalls calls;
  calls.record(day_start + 10 * hour + 5, false, 2'000'000);
  calls.record(day_start + 10 * hour + 60'000, true, 1'000'000);
  calls.record(day_start + 11 * hour, false, 3'000'000);
  auto const day = calls.last_day(day_start + 11 * hour + 30 * 60'000);
  REQUIRE(day.size() == 24);
  CHECK(day.back().hour_start_ms == day_start + 11 * hour);
  CHECK(day.front().hour_start_ms == day_start - 12 * hour);
  CHECK(day.back().successes == 1);
  CHECK(day.back().failures == 0);
  CHECK(day.back().duration_ns == 3'000'000);
  auto const& ten = day[22];
  CHECK(ten.hour_start_ms == day_start + 10 * hour);
  CHECK(ten.successes == 1);
  CHECK(ten.failures == 1);
  CHECK(ten.duration_ns == 3'000'000);
  for (std::size_t i = 0; i < 22; ++i) CHECK(day[i].successes + day[i].failures == 0);
}

TEST_CASE("an hour a day later starts from zero, and what is older than a day is not shown",
          "[metrics][app_metrics]") {
  HourlyCalls calls;
  calls.record(day_start + 3 * hour, false, 1);
  calls.record(day_start + 3 * hour, false, 1);
  CHECK(calls.last_day(day_start + 3 * hour).back().successes == 2);
  // A day later the same hour has had no calls yet: yesterday's are past the window.
  auto const next_day = calls.last_day(day_start + 27 * hour);
  for (auto const& h : next_day) CHECK(h.successes == 0);
  calls.record(day_start + 27 * hour, true, 5);
  auto const day = calls.last_day(day_start + 27 * hour);
  CHECK(day.back().successes == 0);
  CHECK(day.back().failures == 1);
  CHECK(day.back().duration_ns == 5);
  // A late call for the hour a day before the one the bucket now counts is dropped.
  calls.record(day_start + 3 * hour, false, 1);
  CHECK(calls.last_day(day_start + 27 * hour).back().successes == 0);
}

TEST_CASE("calls from several threads all count", "[metrics][app_metrics]") {
  HourlyAppMetrics metrics;
  auto& calls = metrics.of(7, "geoip");
  CHECK(&metrics.of(7, "geoip") == &calls);
  CHECK(metrics.find(7, "geoip") == &calls);
  CHECK(metrics.find(8, "geoip") == nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10'000; ++i) calls.record(day_start + 5 * hour + i, (i + t) % 10 == 0, 10);
    });
  for (auto& t : threads) t.join();
  auto const now = calls.last_day(day_start + 5 * hour).back();
  CHECK(now.successes + now.failures == 40'000);
  CHECK(now.failures == 4'000);
  CHECK(now.duration_ns == 400'000);
}

}  // namespace hourly_app_metrics_test
