// Schedules: run_every_minute / hour once per wall-clock period per (team,
// plugin), once after downtime, never twice for one period however many
// schedulers share the lock. PostHog's rules: src/main/services/schedule.ts
// (cron every minute / hour / day, one server at a time through a lock, a run
// skipped while the previous one is still going).
#include "jobs_fixture.hpp"

#include "jobs/scheduled_tasks.hpp"

namespace scheduler_test {

using namespace posthog::server;
using posthog::testing::JobsFixture;
using posthog::testing::backends;

namespace {
constexpr std::int64_t minute = 60'000;
constexpr std::int64_t hour = 60 * minute;
}  // namespace

TEST_CASE("schedules: periods are wall-clock minutes, hours and days in UTC", "[schedules]") {
  // 2023-11-14T22:13:20.000Z
  CHECK(period_start(1'700'000'000'000, minute) == 1'699'999'980'000);  // 22:13:00
  CHECK(period_start(1'700'000'000'000, hour) == 1'699'999'200'000);    // 22:00:00
  CHECK(period_start(1'700'000'000'000, 24 * hour) == 1'699'920'000'000);  // 00:00:00
  CHECK(period_start(1'699'999'980'000, minute) == 1'699'999'980'000);  // a boundary is its own period
  CHECK(scheduled_task("$run_every_minute")->period_ms == minute);
  CHECK(scheduled_task("remember") == nullptr);
}

TEST_CASE("schedules: a first start waits for the next boundary, then each period runs once per team", "[schedules]") {
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("schedules-once", {}, backend);
  CHECK(f.scheduler->step() == 0);  // 22:13:20: the period it started in is not run
  f.now = period_start(f.now, minute) + minute;  // 22:14:00
  CHECK(f.scheduler->step() == 2);  // teams 1 and 2
  CHECK(f.scheduler->step() == 0);
  f.now += 59'999;
  CHECK(f.scheduler->step() == 0);  // still 22:14
  CHECK(f.runner->step() == 2);
  CHECK(f.logged(1, "run_every_minute").size() == 1);
  CHECK(f.logged(2, "run_every_minute").size() == 1);
  CHECK(f.cache.get("@plugin/testkit/1/minute_runs") == "1");
  f.now += 1;  // 22:15:00
  CHECK(f.scheduler->step() == 2);
  CHECK(f.runner->step() == 2);
  CHECK(f.logged(1, "run_every_minute").size() == 2);
  CHECK(f.logged(1, "run_every_hour").empty());
  auto const states = f.scheduler->state();
  CHECK(states.at(0).task == "run_every_minute");
  CHECK(states.at(0).last_period_ms == f.now);
  CHECK(states.at(0).next_run_ms == f.now + minute);
  CHECK(states.at(0).runs_queued == 4);
}

TEST_CASE("schedules: after downtime a missed period runs once, and a restart within a period runs nothing",
          "[schedules]") {
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("schedules-downtime", {}, backend);
  f.now = period_start(f.now, minute) + minute + 10'000;
  CHECK(f.scheduler->step() == 2);
  CHECK(f.runner->step() == 2);
  f.restart();  // same minute: already ran
  CHECK(f.scheduler->step() == 0);
  f.close();
  f.now += 7 * minute;  // seven boundaries pass while down
  f.open();
  CHECK(f.scheduler->step() == 2);  // once, not seven times
  CHECK(f.scheduler->step() == 0);
  CHECK(f.runner->step() == 2);
  CHECK(f.logged(1, "run_every_minute").size() == 2);
}

TEST_CASE("schedules: the hour's run comes with the minute's at :00", "[schedules]") {
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("schedules-hour", {}, backend);
  f.now = period_start(f.now, hour) + hour;  // 23:00:00
  CHECK(f.scheduler->step() == 4);  // minute and hour, for two teams
  CHECK(f.runner->step() == 4);
  CHECK(f.logged(1, "run_every_hour").size() == 1);
  CHECK(f.logged(2, "run_every_hour").size() == 1);
}

TEST_CASE("schedules: a run still queued when the next period starts makes that period skip it", "[schedules]") {
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("schedules-skip", {}, backend);
  f.now = period_start(f.now, minute) + minute;
  CHECK(f.scheduler->step() == 2);
  f.now += minute;  // the job threads did not get to them
  CHECK(f.scheduler->step() == 0);
  CHECK(f.scheduler->state().at(0).runs_skipped == 2);
  CHECK(f.logged(1, "run_every_minute skipped").size() == 1);
  CHECK(f.runner->step() == 2);  // one run each, not two
  f.now += minute;
  CHECK(f.scheduler->step() == 2);
}

TEST_CASE("schedules: schedulers sharing one lock run each period exactly once between them", "[schedules]") {
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("schedules-shared", {}, backend);
  auto other_lock = f.make_lock();  // another server's view of the same lock
  Scheduler other(*f.queue, f.live, *other_lock, f.log, [&] { return f.now; });
  std::size_t queued = 0;
  for (int period = 1; period <= 5; ++period) {
    f.now = period_start(f.now, minute) + minute + period * 7;
    // Whichever looks first at each period wins it.
    if (period % 2) queued += other.step() + f.scheduler->step();
    else queued += f.scheduler->step() + other.step();
    CHECK(f.runner->step() == 2);
  }
  CHECK(queued == 10);  // five periods, two teams, once each
  CHECK(f.logged(1, "run_every_minute").size() == 5);
  CHECK(other.state().at(0).runs_queued + f.scheduler->state().at(0).runs_queued == 10);
  CHECK(other.state().at(0).runs_queued == 6);
}

TEST_CASE("schedules: a claim whose runs cannot be queued is undone, so the period still runs", "[schedules]") {
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("schedules-atomic", {}, backend);
  auto const held = f.make_lock();
  auto& lock = *held;
  lock.seed("task", 0);
  CHECK_THROWS_WITH(lock.claim("task", minute, [] { throw std::runtime_error("disk full"); }),
                    Catch::Contains("disk full"));
  CHECK(lock.last_period("task") == 0);  // the period did not move
  int queued = 0;
  CHECK(lock.claim("task", minute, [&] { ++queued; }));
  CHECK_FALSE(lock.claim("task", minute, [&] { ++queued; }));
  CHECK_FALSE(lock.claim("task", 0, [&] { ++queued; }));  // never backwards
  CHECK(queued == 1);
  CHECK(lock.last_period("task") == minute);
}

TEST_CASE("schedules (Redis): a period whose lock another server holds is looked at again, not given up",
          "[schedules][redis]") {
  JobsFixture f("schedules-busy", {}, "redis");
  f.now = period_start(f.now, minute) + minute;
  posthog::server::RedisConnection raw(f.redis->endpoint(), std::chrono::milliseconds(1000));
  // A server took the lock and died before it recorded the period.
  REQUIRE(raw.command({"SET", "test:schedule-lock:run_every_minute", "someone-else", "PX", "30000"}).text == "OK");
  CHECK(f.scheduler->step() == 0);
  CHECK(f.scheduler->step() == 0);
  REQUIRE(raw.command({"DEL", "test:schedule-lock:run_every_minute"}).integer == 1);  // its lock ran out
  CHECK(f.scheduler->step() == 2);  // the period runs: late, not lost
  CHECK(f.scheduler->step() == 0);
  CHECK(raw.command({"EXISTS", "test:schedule-lock:run_every_minute"}).integer == 0);  // released by its holder

  // Only the holder's token releases a lock.
  auto lock = f.make_lock();
  REQUIRE(raw.command({"SET", "test:schedule-lock:task", "someone-else"}).text == "OK");
  lock->seed("task", 0);
  CHECK_FALSE(lock->claim("task", minute, [] {}));
  CHECK(raw.command({"GET", "test:schedule-lock:task"}).text == "someone-else");
  CHECK(lock->last_period("task") == 0);
}

}  // namespace scheduler_test
