// The chain rules: PostHog's src/worker/plugins/run.ts (runProcessEvent), plus
// our restore-on-error and the health skip.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <algorithm>
#include <thread>

#include "health/call_watchdog.hpp"
#include "health/team_plugin_states.hpp"
#include "host/plugin_instance.hpp"
#include "loader/plugin_module.hpp"
#include "generations/plugin_chain.hpp"
#include "stores/memory_cache.hpp"
#include "common/plugin_log.hpp"
#include "stores/plugin_storage.hpp"
#include "stores/redis/redis_connection.hpp"
#include "stores/team_cache.hpp"
#include "../support/memory_services.hpp"

namespace plugin_chain_test {

using namespace posthog::server;

namespace {

boost::json::object event_with(boost::json::object props) {
  return {{"uuid", "0190-test"}, {"event", "e"}, {"distinct_id", "d"}, {"team_id", 5},
          {"properties", std::move(props)}};
}

struct Fixture : posthog::testing::MemoryServices {
  std::shared_ptr<PluginInstance> instance = PluginInstance::create(
      PluginModule::load(std::string(POSTHOG_TEST_MODULES_DIR) + "/testkit.so", posthog::server::host_api()), {});
  PluginChain chain{5, {TeamPlugin::create(instance, 5, {{"label", "first"}}, host)}};
  ChainScratch scratch;
  ChainStats stats;

  boost::json::object event(boost::json::object props) { return event_with(std::move(props)); }
};

// testkit then helloworld, for team 5, with health kept (a small bucket, so
// that a few failures pause a plugin).
struct TwoPlugins : posthog::testing::MemoryServices {
  std::int64_t now_ms = 1'000'000;
  TeamPluginStates states{small_bucket(), [this] { return now_ms; }};
  std::shared_ptr<PluginInstance> testkit = PluginInstance::create(
      PluginModule::load(std::string(POSTHOG_TEST_MODULES_DIR) + "/testkit.so", posthog::server::host_api()), {});
  std::shared_ptr<PluginInstance> hello =
      PluginInstance::create(PluginModule::load(std::string(POSTHOG_PLUGINS_DIR) + "/helloworld.so", posthog::server::host_api()), {});
  std::unique_ptr<PluginChain> chain;
  ChainScratch scratch;
  ChainStats stats;

  static HealthPolicy small_bucket() {
    HealthPolicy p;
    p.bucket_tokens = 300;  // three errors
    p.refill_per_second = 0.1;
    p.slow_from = std::chrono::milliseconds(50);  // well above the coarse clock's tick
    p.slow_to = std::chrono::milliseconds(60);
    p.slow_cost = 60;  // a 100 ms call: round(60 * 50 / 10) = 300, the whole bucket
    return p;
  }
  TwoPlugins() {
    host.states = &states;
    states.observe([this](const TeamPluginState& s, const HealthTransition& t) { log_transition(log, s, t); });
    chain = std::make_unique<PluginChain>(
        5, std::vector{TeamPlugin::create(testkit, 5, {{"label", "first"}}, host),
                       TeamPlugin::create(hello, 5, {}, host)});
  }
  boost::json::object run(boost::json::object props, bool* kept = nullptr) {
    auto e = event_with(std::move(props));
    bool const k = chain->process(e, scratch, log, stats);
    if (kept) *kept = k;
    if (k) {
      // The sink gets the outcome written into the event's text; on_event, set in the event.
      REQUIRE(scratch.outcome_of == chain.get());
      JsonBuffer text;
      PropertiesTail const tail{PluginChain::outcome_keys, 3,
                                [](const void* s, JsonBuffer& out) {
                                  auto const& scratch = *static_cast<const ChainScratch*>(s);
                                  scratch.outcome_of->write_outcome(out, scratch);
                                },
                                &scratch};
      append_json_line(text, e, tail);
      chain->record_outcome(e, scratch);
      CHECK(boost::json::parse(text.view()) == boost::json::value(e));
    }
    return e;
  }
};

std::vector<std::string> list(const boost::json::object& event, const char* key) {
  std::vector<std::string> out;
  for (auto const& v : event.at("properties").at(key).as_array()) out.emplace_back(v.as_string());
  return out;
}

}  // namespace

TEST_CASE("A plugin that throws leaves the event as it was before it", "[pipeline][chain]") {
  Fixture f;
  auto e = f.event({{"throw", true}});
  auto const before = e;
  CHECK(f.chain.process(e, f.scratch, f.log, f.stats));
  CHECK(e == before);  // not even the half-written property survives
  CHECK(f.stats.plugin_errors == 1);
  auto errors = f.log.errors(5, "testkit");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].hook == "process_event");
  CHECK(errors[0].kind == "std::runtime_error");
  CHECK(errors[0].message == "asked to throw");
  CHECK(errors[0].event_uuid == "0190-test");
  CHECK(boost::json::parse(errors[0].event_json) == boost::json::value(before));
}

TEST_CASE("Returning false drops the event and is counted", "[pipeline][chain]") {
  Fixture f;
  auto e = f.event({{"drop", true}});
  CHECK_FALSE(f.chain.process(e, f.scratch, f.log, f.stats));
  CHECK(f.stats.dropped == 1);
  // run.ts returns null at once: a dropped event gets no bookkeeping.
  CHECK_FALSE(e.at("properties").as_object().contains("$plugins_succeeded"));
}

TEST_CASE("A plugin cannot change team_id", "[pipeline][chain][isolation]") {
  Fixture f;
  auto e = f.event({{"change_team", true}});
  CHECK(f.chain.process(e, f.scratch, f.log, f.stats));
  f.chain.record_outcome(e, f.scratch);
  CHECK(e.at("team_id") == 5);
  CHECK(e.at("properties").at("testkit_label") == "first");  // its other edits stay, as in run.ts
  CHECK(f.stats.illegal_team_changes == 1);
  auto errors = f.log.errors(5, "testkit");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].kind == "IllegalOperationError");
  CHECK(errors[0].message.find("changed team_id (to 999)") != std::string::npos);
  CHECK(list(e, "$plugins_failed") == std::vector<std::string>{"testkit (5)"});
  CHECK(list(e, "$plugins_succeeded").empty());
}

TEST_CASE("A kept event carries each plugin's changes; on_event sees the result", "[pipeline][chain]") {
  Fixture f;
  auto e = f.event({});
  CHECK(f.chain.process(e, f.scratch, f.log, f.stats));
  CHECK(e.at("properties").at("testkit_label") == "first");
  CHECK(f.chain.has_on_event());
  f.chain.on_event(e, f.log, f.stats);
  CHECK(f.cache.get("@plugin/testkit/5/on_event_count") == std::optional<std::string>("1"));
  auto bad = f.event({{"throw_on_event", true}});
  f.chain.on_event(bad, f.log, f.stats);
  auto errors = f.log.errors(5, "testkit");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].hook == "on_event");
}

// run.ts: `${pluginConfig.plugin?.name} (${pluginConfig.id})` pushed to
// $plugins_succeeded or $plugins_failed as each plugin finishes; plugins that
// run after ingestion (onEvent, and so exportEvents) listed as deferred.
TEST_CASE("Each event records which plugins succeeded, failed or were deferred (run.ts)", "[pipeline][chain]") {
  TwoPlugins f;
  auto ok = f.run({});
  CHECK(list(ok, "$plugins_succeeded") == std::vector<std::string>{"testkit (5)", "helloworld (5)"});
  CHECK(list(ok, "$plugins_failed").empty());
  CHECK(list(ok, "$plugins_deferred") == std::vector<std::string>{"testkit (5)"});  // on_event, export_events

  auto failed = f.run({{"throw", true}});
  CHECK(list(failed, "$plugins_succeeded") == std::vector<std::string>{"helloworld (5)"});
  CHECK(list(failed, "$plugins_failed") == std::vector<std::string>{"testkit (5)"});
  CHECK(failed.at("properties").at("hello") == "world");  // the chain went on
}

TEST_CASE("Lists an event arrives with are replaced, so a client cannot skip a plugin", "[pipeline][chain]") {
  TwoPlugins f;
  auto e = f.run({{"$plugins_succeeded", boost::json::array{"testkit (5)"}},
                  {"$plugins_failed", boost::json::array{"helloworld (5)"}}});
  CHECK(e.at("properties").at("testkit_label") == "first");  // it ran
  CHECK(list(e, "$plugins_succeeded") == std::vector<std::string>{"testkit (5)", "helloworld (5)"});
  CHECK(list(e, "$plugins_failed").empty());
}

TEST_CASE("A plugin paused for its errors is skipped and deferred; the event goes on", "[pipeline][chain][health]") {
  TwoPlugins f;
  for (int i = 0; i < 3; ++i) f.run({{"throw", true}});  // 3 x 100 tokens: the bucket is empty
  auto* state = f.states.find(5, "testkit");
  REQUIRE(state);
  CHECK(state->health().state() == HealthState::paused);
  auto lines = f.log.lines(5, "testkit");
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back().message.find("health: degraded -> paused") == 0);

  bool kept = false;
  auto e = f.run({{"throw", true}}, &kept);
  CHECK(kept);  // not lost
  CHECK_FALSE(e.at("properties").as_object().contains("testkit_label"));  // not run
  CHECK(list(e, "$plugins_succeeded") == std::vector<std::string>{"helloworld (5)"});
  CHECK(list(e, "$plugins_deferred") == std::vector<std::string>{"testkit (5)"});
  CHECK(f.log.errors(5, "testkit").size() == 3);  // the skipped call threw nothing

  f.now_ms += 600'000;  // PostHog's 10-minute pause is over: it runs again, on 60 tokens refilled: degraded
  auto later = f.run({});
  CHECK(later.at("properties").at("testkit_label") == "first");
  CHECK(state->health().state() == HealthState::degraded);
}

TEST_CASE("A slow plugin is charged by how long it ran, and paused", "[pipeline][chain][health]") {
  TwoPlugins f;
  f.run({});  // under slow_from: free
  CHECK(f.states.find(5, "testkit") == nullptr);  // nothing happened, nothing kept
  f.run({{"sleep_ms", 100}});  // past slow_to: at least the whole bucket
  auto* state = f.states.find(5, "testkit");
  REQUIRE(state);
  CHECK(state->health().state() == HealthState::paused);
  auto const last = state->health().snapshot(f.states.policy(), f.now_ms).last;
  REQUIRE(last);
  CHECK(last->reason.find("process_event took 0.") == 0);  // 100 ms, give or take a clock tick
  CHECK(list(f.run({}), "$plugins_deferred") == std::vector<std::string>{"testkit (5)"});
}

TEST_CASE("A call past the hard timeout is reported while it runs, with plugin, team and event", "[health][watchdog]") {
  TwoPlugins f;
  CallWatchdog watchdog(f.states, f.log);
  std::thread slow([&] {  // no Catch assertion on this thread: Catch is not thread-safe
    auto e = event_with({{"sleep_ms", 300}});
    f.chain->process(e, f.scratch, f.log, f.stats);
  });
  // Wait until the call is inside the plugin (polling the slots, not the clock).
  bool inside = false;
  while (!inside) {
    HookCalls::for_each_busy([&](const HookCallSnapshot& c) { inside = inside || c.plugin == "testkit"; });
    std::this_thread::yield();
  }
  auto const later = HookCalls::steady_ns() + std::chrono::nanoseconds(f.states.policy().hard_timeout).count();
  CHECK(watchdog.scan(later) == 1);
  CHECK(watchdog.scan(later) == 0);  // once per call
  slow.join();
  auto errors = f.log.errors(5, "testkit");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].hook == "process_event");
  CHECK(errors[0].kind == "TimeoutError");
  CHECK(errors[0].event_uuid == "0190-test");
  CHECK(errors[0].message.find("past the hard timeout of 30 s (event 0190-test)") != std::string::npos);
  CHECK(f.states.find(5, "testkit")->health().state() == HealthState::paused);
}

namespace {
// A cache whose backend is out of reach, as RedisCache is while Redis restarts.
struct UnreachableCache final : TeamCache {
  [[noreturn]] static void down() { throw RedisUnavailable("redis://127.0.0.1:1: connection refused"); }
  std::optional<std::string> get(std::string_view) override { down(); }
  void set(std::string_view, std::string_view, std::chrono::seconds) override { down(); }
  std::int64_t incr(std::string_view, std::int64_t) override { down(); }
  bool expire(std::string_view, std::chrono::seconds) override { down(); }
  bool del(std::string_view) override { down(); }
  std::int64_t lpush(std::string_view, std::string_view) override { down(); }
  std::int64_t lpush_many(std::string_view, const std::vector<std::string_view>&) override { down(); }
  std::vector<std::string> lrange(std::string_view, std::int64_t, std::int64_t) override { down(); }
  std::int64_t llen(std::string_view) override { down(); }
  std::int64_t lrem(std::string_view, std::int64_t, std::string_view) override { down(); }
  std::vector<std::string> lpop(std::string_view, std::int64_t) override { down(); }
};
}  // namespace

TEST_CASE("Failures caused by the server's own stores are recorded but not charged to the plugin", "[chain][health]") {
  TwoPlugins f;
  UnreachableCache down;
  f.host.cache = &down;
  for (int i = 0; i < 10; ++i) {
    auto e = event_with({{"seq", i}});  // testkit reads its cache for seq: that call fails, so the hook does
    REQUIRE(f.chain->process(e, f.scratch, f.log, f.stats));
  }
  CHECK(f.log.errors(5, "testkit").size() == 10);  // every failure is still on the record
  CHECK(f.states.find(5, "testkit") == nullptr);   // and none was the plugin's fault
  f.host.cache = &f.cache;
  f.run({{"throw", true}});  // its own failure is charged
  REQUIRE(f.states.find(5, "testkit"));
  CHECK(f.states.find(5, "testkit")->health().state() == HealthState::degraded);
}

}  // namespace plugin_chain_test
