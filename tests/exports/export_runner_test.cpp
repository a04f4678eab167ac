// export_events end to end inside the server's parts: the durable queue in a
// real SQLite file, testkit's export_events, and an injected clock (nothing
// here sleeps). Buffer bounds, RetryError on PostHog's backoff schedule, other
// errors not retried, dead letters and their replay, and a restart in between.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <filesystem>
#include <unistd.h>

#include "config/server_config.hpp"
#include "stores/store_export_queue.hpp"
#include "exports/export_runner.hpp"
#include "health/team_plugin_states.hpp"
#include "loader/plugin_module.hpp"
#include "generations/chain_set.hpp"
#include "generations/live_chains.hpp"
#include "stores/durable_store.hpp"
#include "stores/redis/redis_export_queue.hpp"
#include "stores/redis/redis_pool.hpp"
#include "../support/memory_services.hpp"
#include "../support/redis_server.hpp"

namespace export_runner_test {

using namespace posthog::server;
using Catch::Generators::values;
namespace fs = std::filesystem;

namespace {

struct Fixture : posthog::testing::MemoryServices {
  fs::path dir = fs::temp_directory_path() / ("posthog-exports-" + std::to_string(::getpid()));
  ModuleRegistry modules{posthog::server::host_api()};
  std::vector<LoadError> refusals;
  LiveChains live;
  std::int64_t now = 1'700'000'000'000;
  std::optional<DurableStore> store;
  std::string backend;  // "store" or "redis": the same rules hold for both
  std::unique_ptr<posthog::testing::RedisServer> redis;
  std::unique_ptr<RedisPool> pool;
  std::unique_ptr<ExportQueue> queue;
  std::optional<ExportRunner> runner;
  ExportPolicy policy;

  explicit Fixture(ExportPolicy p = {}, std::string backend_name = "store") : backend(std::move(backend_name)), policy(p) {
    if (backend == "redis") {
      redis = std::make_unique<posthog::testing::RedisServer>();
      pool = std::make_unique<RedisPool>(redis->endpoint(), 2, std::chrono::milliseconds(2'000));
    }
    fs::remove_all(dir);
    fs::create_directories(dir);
    policy.jitter = 0;  // the schedule exactly, unless a test says otherwise
    auto config = ServerConfig::parse(R"({
      "plugins": [{"name": "testkit", "file": ")" + std::string(POSTHOG_TEST_MODULES_DIR) + R"(/testkit.so"}],
      "teams": [{"id": 1, "token": "phc_one", "plugins": [{"name": "testkit", "config": {"label": "one"}}]}]})",
                                      ".");
    live.publish(ChainSet::build(config, modules, host, refusals));
    REQUIRE(refusals.empty());
    open();
  }
  ~Fixture() {
    close();
    fs::remove_all(dir);
  }
  void open() {
    store.emplace(dir / "store.db");
    if (pool) queue = std::make_unique<RedisExportQueue>(*pool, "test:", std::chrono::minutes(5));
    else queue = std::make_unique<StoreExportQueue>(*store);
    runner.emplace(*queue, live, log, policy, [this] { return now; });
  }
  void close() {
    runner.reset();
    queue.reset();
    store.reset();
  }

  void enqueue(std::initializer_list<int> seqs, boost::json::object extra = {}) {
    std::vector<ExportRow> rows;
    for (int seq : seqs) {
      boost::json::object properties = extra;
      properties["seq"] = seq;
      rows.push_back({1, "testkit",
                      boost::json::serialize(boost::json::object{
                          {"event", "e"}, {"distinct_id", "d"}, {"team_id", 1}, {"properties", properties}})});
    }
    runner->enqueue(rows);
  }
  std::vector<std::string> exported() const {
    std::vector<std::string> out;
    for (auto const& l : log.lines(1, "testkit"))
      if (l.message.rfind("exported ", 0) == 0) out.push_back(l.message.substr(9));
    return out;
  }
  ExportTally tally() const {
    auto const all = runner->tallies();
    auto it = all.find({1, "testkit"});
    return it == all.end() ? ExportTally{} : it->second;
  }
};

}  // namespace

TEST_CASE("exports: events wait for the buffer's age, then go as one batch", "[exports]") {
  auto const backend = GENERATE(values<std::string>({"store", "redis"}));
  CAPTURE(backend);
  Fixture f({}, backend);
  f.enqueue({1, 2, 3});
  f.now += 9'999;
  CHECK(f.runner->step() == 0);
  CHECK(f.exported().empty());
  CHECK(f.queue->counts(1, "testkit").pending_events == 3);
  f.now += 1;  // the oldest is 10 s old
  CHECK(f.runner->step() == 1);
  CHECK(f.exported() == std::vector<std::string>{"1,2,3"});
  CHECK(f.queue->counts(1, "testkit").pending_events == 0);
  CHECK(f.tally().events_seen == 3);
  CHECK(f.tally().events_delivered == 3);
}

TEST_CASE("exports: the byte bound cuts batches at once, in order", "[exports]") {
  ExportPolicy policy;
  policy.buffer_bytes = 150;  // about two events
  auto const backend = GENERATE(values<std::string>({"store", "redis"}));
  CAPTURE(backend);
  Fixture f(policy, backend);
  f.enqueue({1, 2, 3, 4, 5});
  CHECK(f.runner->step() == 3);
  CHECK(f.exported() == std::vector<std::string>{"1,2", "3,4", "5"});
}

TEST_CASE("exports: RetryError gets the batch again on the backoff schedule", "[exports]") {
  auto const backend = GENERATE(values<std::string>({"store", "redis"}));
  CAPTURE(backend);
  Fixture f({}, backend);
  f.enqueue({7, 8}, {{"export", "retry_then_ok"}, {"export_retries", 2}});
  f.now += 10'000;
  CHECK(f.runner->step() == 1);  // RetryError: retry 1 in 6 s
  CHECK(f.queue->counts(1, "testkit").retrying_batches == 1);
  f.now += 5'999;
  CHECK(f.runner->step() == 0);
  f.now += 1;
  CHECK(f.runner->step() == 1);  // RetryError again: retry 2 in 12 s
  f.now += 11'999;
  CHECK(f.runner->step() == 0);
  f.now += 1;
  CHECK(f.runner->step() == 1);
  CHECK(f.exported() == std::vector<std::string>{"7,8"});
  std::vector<std::string> attempts;  // as PostHog's RetryError carried them, seen by the plugin
  for (auto const& l : f.log.lines(1, "testkit"))
    if (l.message.rfind("export attempt", 0) == 0) attempts.push_back(l.message);
  CHECK(attempts == std::vector<std::string>{"export attempt 1 of 16", "export attempt 2 of 16", "export attempt 3 of 16"});
  CHECK(f.queue->counts(1, "testkit").retrying_batches == 0);
  CHECK(f.tally().retry_errors == 2);
  CHECK(f.tally().events_delivered == 2);
  CHECK(f.tally().events_undelivered == 0);
}

TEST_CASE("exports: PostHog's schedule is 6 s doubling, with jitter around it", "[exports]") {
  ExportPolicy policy;
  Fixture f(policy);
  CHECK(f.runner->retry_delay_ms(1) == 6'000);
  CHECK(f.runner->retry_delay_ms(2) == 12'000);
  CHECK(f.runner->retry_delay_ms(15) == 6'000ll << 14);
  std::int64_t total = 0;
  for (int n = 1; n <= f.policy.max_retries; ++n) total += f.runner->retry_delay_ms(n);
  CHECK(total / 3'600'000 == 54);  // about 54.6 hours from the first failure to the last try
  ExportPolicy jittered;
  jittered.jitter = 0.1;
  StoreExportQueue queue(*f.store);
  ExportRunner runner(queue, f.live, f.log, jittered, [] { return 0; });
  for (int i = 0; i < 100; ++i) {
    auto const d = runner.retry_delay_ms(3);
    CHECK(d >= 21'600);
    CHECK(d <= 26'400);
  }
}

TEST_CASE("exports: another exception is logged with the batch and not retried", "[exports]") {
  auto const backend = GENERATE(values<std::string>({"store", "redis"}));
  CAPTURE(backend);
  Fixture f({}, backend);
  f.enqueue({4, 5}, {{"export", "fail"}});
  f.now += 10'000;
  CHECK(f.runner->step() == 1);
  auto const counts = f.queue->counts(1, "testkit");
  CHECK(counts.retrying_batches == 0);
  CHECK(counts.dead_batches == 0);
  auto const errors = f.log.errors(1, "testkit");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].hook == "export_events");
  CHECK_THAT(errors[0].message, Catch::Contains("400") && Catch::Contains("2 events not exported"));
  CHECK_THAT(errors[0].event_json, Catch::Contains("\"seq\":4") && Catch::Contains("\"seq\":5"));
  CHECK(f.tally().other_errors == 1);
  CHECK(f.tally().events_undelivered == 2);
  f.now += 1'000'000;
  CHECK(f.runner->step() == 0);
}

TEST_CASE("exports: out of retries the batch is a dead letter; a replay hands it over again", "[exports]") {
  ExportPolicy policy;
  policy.max_retries = 2;
  auto const backend = GENERATE(values<std::string>({"store", "redis"}));
  CAPTURE(backend);
  Fixture f(policy, backend);
  f.enqueue({9}, {{"export", "retry_then_ok"}, {"export_retries", 3}});
  f.now += 10'000;
  CHECK(f.runner->step() == 1);
  f.now += 6'000;
  CHECK(f.runner->step() == 1);
  f.now += 12'000;
  CHECK(f.runner->step() == 1);  // the third RetryError: no retries left
  auto const dead = f.queue->dead_letters(1, "testkit", 10);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].attempt == 3);
  CHECK(dead[0].events.size() == 1);
  CHECK_THAT(dead[0].last_error, Catch::Contains("503"));
  CHECK(f.tally().events_undelivered == 1);
  f.now += 1'000'000'000;
  CHECK(f.runner->step() == 0);  // a dead letter is not tried again by itself

  CHECK(f.queue->replay(dead[0].id, f.now));
  CHECK_FALSE(f.queue->replay(dead[0].id, f.now));  // no longer dead
  CHECK(f.runner->step() == 1);
  CHECK(f.exported() == std::vector<std::string>{"9"});
  CHECK(f.queue->counts(1, "testkit").dead_batches == 0);
}

TEST_CASE("exports: pending events and batches waiting for a retry survive a restart", "[exports]") {
  auto const backend = GENERATE(values<std::string>({"store", "redis"}));
  CAPTURE(backend);
  Fixture f({}, backend);
  f.enqueue({1}, {{"export", "retry_then_ok"}, {"export_retries", 1}});
  f.now += 10'000;
  CHECK(f.runner->step() == 1);  // RetryError: waits in the store
  f.enqueue({2, 3});             // pending, not old enough yet
  f.close();
  f.open();  // a new server on the same file
  CHECK(f.queue->counts(1, "testkit").retrying_batches == 1);
  CHECK(f.queue->counts(1, "testkit").pending_events == 2);
  f.now += 10'000;
  CHECK(f.runner->step() == 2);
  auto exported = f.exported();
  std::sort(exported.begin(), exported.end());
  CHECK(exported == std::vector<std::string>{"1", "2,3"});
}

TEST_CASE("exports: a batch whose plugin left the team's chain is kept as a dead letter", "[exports]") {
  auto const backend = GENERATE(values<std::string>({"store", "redis"}));
  CAPTURE(backend);
  Fixture f({}, backend);
  f.enqueue({1});
  f.live.update([&](const ChainSet& now) {
    TeamSpec team;
    team.id = 1;
    team.token = "phc_one";
    return ChainSet::with_team(now, team, f.host);  // no plugins any more
  });
  f.now += 10'000;
  CHECK(f.runner->step() == 1);
  auto const dead = f.queue->dead_letters(1, "testkit", 10);
  REQUIRE(dead.size() == 1);
  CHECK_THAT(dead[0].last_error, Catch::Contains("no 'testkit'"));
}

TEST_CASE("exports (Redis): a batch taken by a server that died is handed over by another once its hand-over runs out",
          "[exports][redis]") {
  Fixture f({}, "redis");
  f.enqueue({1, 2});
  f.now += 10'000;
  // Another server's runner cuts the batch and takes it, then dies before delivering it.
  RedisExportQueue other(*f.pool, "test:", std::chrono::minutes(5));
  REQUIRE(other.cut_batch(1, "testkit", 1 << 20, 1000, f.now));
  auto const taken = other.due(f.now, 4);
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].events.size() == 2);
  CHECK(f.runner->step() == 0);  // hidden from the others while it is handed over
  CHECK(f.queue->counts(1, "testkit").retrying_batches == 1);
  f.now += 5 * 60'000;
  CHECK(f.runner->step() == 1);
  CHECK(f.exported() == std::vector<std::string>{"1,2"});
  CHECK(f.queue->totals().retrying_batches == 0);
  CHECK(f.runner->step() == 0);  // delivered once
}

TEST_CASE("exports (Redis): events another server queued and left pending are cut and delivered here",
          "[exports][redis]") {
  Fixture f({}, "redis");
  RedisExportQueue other(*f.pool, "test:", std::chrono::minutes(5));  // a server that queued, then died
  other.append({{1, "testkit", R"({"event":"e","distinct_id":"d","team_id":1,"properties":{"seq":41}})"},
                {1, "testkit", R"({"event":"e","distinct_id":"d","team_id":1,"properties":{"seq":42}})"}},
               f.now);
  CHECK(f.runner->step() == 0);
  f.now += 10'000;  // the buffer's age: this runner reads what the queue holds, whoever queued it
  CHECK(f.runner->step() == 1);
  CHECK(f.exported() == std::vector<std::string>{"41,42"});
  CHECK(f.queue->totals().pending_events == 0);
}

TEST_CASE("exports (Redis): a runner whose hand-over ran out cannot settle the batch another runner holds",
          "[exports][redis]") {
  Fixture f({}, "redis");
  f.enqueue({1});
  RedisExportQueue slow(*f.pool, "test:", std::chrono::minutes(5));
  REQUIRE(slow.cut_batch(1, "testkit", 1 << 20, 1000, f.now));
  auto const first = slow.due(f.now, 4);
  REQUIRE(first.size() == 1);
  f.now += 5 * 60'000;  // the slow runner's hand-over runs out
  auto const again = f.queue->due(f.now, 4);
  REQUIRE(again.size() == 1);
  CHECK(again[0].claim != first[0].claim);
  slow.dead_letter(first[0].id, 16, "late", first[0].claim);  // ignored: not its batch any more
  CHECK(f.queue->counts(1, "testkit").dead_batches == 0);
  CHECK(f.queue->counts(1, "testkit").retrying_batches == 1);
  f.queue->delivered(again[0].id, again[0].claim);
  CHECK(f.queue->counts(1, "testkit").retrying_batches == 0);
}

TEST_CASE("exports: a plugin paused for its health keeps its batches waiting, attempts untouched", "[exports][health]") {
  auto const backend = GENERATE(values<std::string>({"store", "redis"}));
  CAPTURE(backend);
  Fixture f({}, backend);
  TeamPluginStates states({}, [&f] { return f.now; });
  f.host.states = &states;
  auto& state = states.of(1, "testkit");
  state.health().charge(states.policy(), 1e9, f.now, "test");  // empties the bucket: paused
  REQUIRE(state.health().state() == HealthState::paused);
  f.enqueue({1, 2});
  f.now += 10'000;
  CHECK(f.runner->step() == 1);  // handed to the runner, not to the plugin
  CHECK(f.exported().empty());
  CHECK(f.tally().postponed == 1);
  CHECK(f.queue->counts(1, "testkit").retrying_batches == 1);
  state.health().enable(states.policy(), f.now);  // what the admin API's enable does
  f.now += 10'000;
  CHECK(f.runner->step() == 1);
  CHECK(f.exported() == std::vector<std::string>{"1,2"});
  CHECK(f.tally().retry_errors == 0);
  f.host.states = nullptr;
}

}  // namespace export_runner_test
