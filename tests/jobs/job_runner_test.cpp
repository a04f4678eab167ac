// Jobs inside the server's parts: testkit's job handlers through the real
// loader, the queue in a real SQLite file, an injected clock. Due times,
// restarts, RetryError on the backoff schedule with the attempt reaching the
// handler, other errors kept as failed, replay. PostHog's rules followed:
// src/worker/vm/extensions/jobs.ts (runNow / runIn / runAt) and the export
// retry schedule of src/worker/vm/upgrades/export-events.ts.
#include "jobs_fixture.hpp"

namespace job_runner_test {

using namespace posthog::server;
using posthog::testing::JobsFixture;
using posthog::testing::backends;

TEST_CASE("jobs: run_now runs at once, run_in and run_at wait until due", "[jobs]") {
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("jobs-due", {}, backend);
  f.job(1, "remember", {{"value", "now"}});
  f.job(1, "remember", {{"value", "later"}}, f.now + 5'000);
  CHECK(f.runner->step() == 1);
  CHECK(f.logged(1, "job remember") == std::vector<std::string>{"job remember now attempt 1 of 16"});
  CHECK(f.storage.get("@plugin/testkit/1/job/now") == "1");
  f.now += 4'999;
  CHECK(f.runner->step() == 0);
  CHECK(f.queue->counts(1, "testkit").queued == 1);
  CHECK(f.queue->counts(1, "testkit").next_run_at_ms == f.now + 1);
  f.now += 1;
  CHECK(f.runner->step() == 1);
  CHECK(f.logged(1, "job remember").size() == 2);
  CHECK(f.queue->counts(1, "testkit").queued == 0);
  CHECK(f.tally(1).succeeded == 2);
}

TEST_CASE("jobs: a queued job survives a restart, and one cut short by a crash runs again", "[jobs]") {
  JobsFixture f("jobs-restart");
  f.job(2, "remember", {{"value", "kept"}}, f.now + 60'000);
  f.job(2, "remember", {{"value", "in-flight"}});
  auto const claimed = f.queue->claim(f.now);  // a job thread took it, then the process died
  REQUIRE(claimed);
  CHECK(f.queue->totals().running == 1);
  f.restart();
  CHECK(f.queue->totals().running == 0);
  CHECK(f.queue->totals().queued == 2);
  CHECK(f.runner->step() == 1);  // the one cut short: at least once
  CHECK(f.logged(2, "job remember in-flight").size() == 1);
  f.now += 60'000;
  CHECK(f.runner->step() == 1);
  CHECK(f.logged(2, "job remember kept").size() == 1);
  CHECK(f.logged(1, "job remember").empty());  // team 1's scope was never used
}

TEST_CASE("jobs: RetryError runs the job again on the backoff schedule, the attempt reaching the handler", "[jobs]") {
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("jobs-retry", {}, backend);
  f.job(1, "flaky", {{"fails", 2}});
  CHECK(f.runner->step() == 1);  // attempt 1: RetryError, next in 6 s
  auto queued = f.queue->list(1, "testkit", "queued", 10);
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].attempt == 1);
  CHECK(queued[0].run_at_ms == f.now + 6'000);
  CHECK(queued[0].last_error.find("flaky job failed at attempt 1") != std::string::npos);
  f.now += 5'999;
  CHECK(f.runner->step() == 0);
  f.now += 1;
  CHECK(f.runner->step() == 1);  // attempt 2: RetryError, next in 12 s
  f.now += 11'999;
  CHECK(f.runner->step() == 0);
  f.now += 1;
  CHECK(f.runner->step() == 1);
  CHECK(f.logged(1, "job flaky ok") == std::vector<std::string>{"job flaky ok at attempt 3 of 16"});
  CHECK(f.tally(1).retry_errors == 2);
  CHECK(f.tally(1).succeeded == 1);
  CHECK(f.queue->totals().queued == 0);
  CHECK(f.logged(1, "job 'flaky'").size() == 2);  // each retry is in the plugin's log
}

TEST_CASE("jobs: past the last retry the job fails, is listed, and replays from attempt 1", "[jobs]") {
  JobPolicy policy;
  policy.max_retries = 2;
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("jobs-dead", policy, backend);
  f.job(1, "flaky", {{"fails", 5}});
  CHECK(f.runner->step() == 1);
  f.now += 6'000;
  CHECK(f.runner->step() == 1);
  f.now += 12'000;
  CHECK(f.runner->step() == 1);  // attempt 3 of 3: failed
  auto failed = f.queue->list(1, "testkit", "failed", 10);
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].attempt == 3);
  CHECK(f.queue->counts(1, "testkit").failed == 1);
  CHECK(f.tally(1).failed == 1);
  f.now += 1'000'000;
  CHECK(f.runner->step() == 0);  // a failed job never runs by itself
  CHECK_FALSE(f.queue->replay(failed[0].id + 1000, f.now));
  REQUIRE(f.queue->replay(failed[0].id, f.now));
  CHECK(f.runner->step() == 1);  // attempt 1 again
  CHECK(f.queue->list(1, "testkit", "queued", 10).at(0).attempt == 1);
}

TEST_CASE("jobs: any other exception fails the job at once, recorded with its payload", "[jobs]") {
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("jobs-explode", {}, backend);
  f.job(2, "explode", {{"why", "testing"}});
  CHECK(f.runner->step() == 1);
  f.now += 10'000'000;
  CHECK(f.runner->step() == 0);  // not retried
  CHECK(f.queue->counts(2, "testkit").failed == 1);
  auto const errors = f.log.errors(2, "testkit");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].hook == "job:explode");
  CHECK(errors[0].kind == "std::logic_error");
  CHECK(errors[0].message.find("the job exploded") != std::string::npos);
  CHECK(errors[0].event_json.find(R"("payload":{"why":"testing"})") != std::string::npos);
}

TEST_CASE("jobs: a name the plugin does not declare, or a plugin gone from the chain, fails the job", "[jobs]") {
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("jobs-unknown", {}, backend);
  f.job(1, "no-such-job", {});
  f.runner->enqueue(1, "helloworld", "remember", "{}", 0);
  CHECK(f.runner->step() == 2);
  CHECK(f.queue->counts(1, "testkit").failed == 1);
  CHECK(f.queue->counts(1, "helloworld").failed == 1);
  auto const failed = f.queue->list(1, "helloworld", "failed", 1);
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].last_error.find("no plugin 'helloworld' in its chain") != std::string::npos);
}

TEST_CASE("jobs: meta.jobs from a hook queues into the runner; unknown names and huge payloads are refused",
          "[jobs]") {
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("jobs-meta", {}, backend);
  auto const set = f.live.current();
  auto const& copy = *set->chain(1)->plugins().at(0);
  auto event = boost::json::object{{"event", "e"},
                                   {"distinct_id", "d"},
                                   {"team_id", 1},
                                   {"properties",
                                    {{"job", "remember"}, {"job_payload", {{"value", "from-event"}}},
                                     {"job_in_seconds", 30}}}};
  posthog_error error{};
  REQUIRE(copy.process_event(event, error) == POSTHOG_OK);
  auto const queued = f.queue->list(1, "testkit", "queued", 10);
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].name == "remember");
  CHECK(queued[0].payload == R"({"value":"from-event"})");
  // run_in measures from the wall clock (the plugin's), so only roughly: 30 s ahead of real now.
  auto const real_now = epoch_ms_now();
  CHECK(queued[0].run_at_ms > real_now + 25'000);
  CHECK(queued[0].run_at_ms <= real_now + 30'000);

  event["properties"].as_object()["job"] = "no-such-job";
  REQUIRE(copy.process_event(event, error) == POSTHOG_ERROR);
  CHECK(std::string(error.message).find("no job named 'no-such-job'") != std::string::npos);

  event["properties"].as_object()["job"] = "remember";
  event["properties"].as_object()["job_payload"] = {{"value", std::string(2 << 20, 'x')}};
  REQUIRE(copy.process_event(event, error) == POSTHOG_ERROR);
  CHECK(std::string(error.message).find("jobs.enqueue failed") != std::string::npos);
  // A module that hands over a payload that is not JSON is refused at once, not when the job runs.
  auto const meta = copy.meta();
  constexpr std::string_view garbage = "{not json";
  CHECK(meta.jobs->enqueue(meta.context, "remember", 8, garbage.data(), garbage.size(), 0) == POSTHOG_ERROR);
  CHECK(f.queue->totals().queued == 1);
}

TEST_CASE("jobs: the job threads run what is due and wake for what is queued", "[jobs][threads]") {
  JobPolicy policy;
  policy.idle_poll = std::chrono::milliseconds(50);
  auto const backend = GENERATE(backends());
  CAPTURE(backend);
  JobsFixture f("jobs-threads", policy, backend);
  f.runner.reset();  // again, on the real clock
  f.runner.emplace(*f.queue, f.live, f.log, f.policy);
  f.host.jobs = &*f.runner;
  f.runner->start();
  for (int i = 0; i < 20; ++i) f.job(1 + i % 2, "remember", {{"value", "t" + std::to_string(i)}});
  for (int i = 0; i < 400 && f.queue->totals().queued + f.queue->totals().running > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  f.runner->stop();
  CHECK(f.queue->totals().queued == 0);
  CHECK(f.logged(1, "job remember").size() == 10);
  CHECK(f.logged(2, "job remember").size() == 10);
}

TEST_CASE("jobs (Redis): a job whose server died runs again on another once its claim runs out", "[jobs][redis]") {
  JobsFixture f("jobs-visibility", {}, "redis");
  f.job(2, "remember", {{"value", "in-flight"}});
  auto const claimed = f.queue->claim(f.now);  // a server took it, then died
  REQUIRE(claimed);
  CHECK(claimed->name == "remember");
  CHECK(claimed->team_id == 2);
  CHECK(f.queue->totals().running == 1);
  f.restart();  // another server, the same Redis: nothing to requeue at start
  CHECK(f.runner->step() == 0);  // still claimed by the dead one
  CHECK(f.queue->next_due_ms() == f.now + JobsFixture::visibility.count());
  f.now += JobsFixture::visibility.count();
  CHECK(f.runner->step() == 1);
  CHECK(f.logged(2, "job remember in-flight").size() == 1);
  CHECK(f.queue->totals().running == 0);
  CHECK(f.queue->totals().queued == 0);
}

TEST_CASE("jobs (Redis): a server whose claim ran out cannot settle the job another server now runs",
          "[jobs][redis]") {
  JobsFixture f("jobs-claims", {}, "redis");
  RedisJobQueue slow(*f.pool, "test:", JobsFixture::visibility), other(*f.pool, "test:", JobsFixture::visibility);
  auto const id = slow.enqueue(1, "testkit", "remember", "{}", 0, f.now);
  auto const first = slow.claim(f.now);
  REQUIRE(first);
  f.now += JobsFixture::visibility.count();  // the slow server's job outlives its claim
  auto const again = other.claim(f.now);
  REQUIRE(again);
  CHECK(again->id == id);
  CHECK_THROWS_AS(slow.done(id, first->claim), JobClaimLost);  // not deleted under the other's run
  CHECK_THROWS_AS(slow.retry_later(id, 1, f.now, "late", first->claim), JobClaimLost);
  CHECK(other.totals().running == 1);
  other.done(id, again->claim);  // the run that holds the claim settles it
  CHECK(other.totals().running == 0);
  CHECK(other.totals().queued == 0);
}

}  // namespace job_runner_test
