// The health bucket against PostHog's function watcher
// (posthog plugin-server/src/cdp/hog-watcher.ts and its Lua token bucket):
// 10,000 tokens refilled at 10/s, an error costs 100, a slow call
// round(20 * (ms - 100) / 4900); healthy at 80% and over, degraded above 0,
// paused for 600 s at 0, disabled for good at the third pause within a day.
#include <catch2/catch.hpp>

#include <chrono>

#include "health/plugin_health.hpp"
#include "health/team_plugin_states.hpp"

namespace plugin_health_test {

using namespace posthog::server;
using std::chrono::milliseconds;

TEST_CASE("A slow call costs 20 tokens per 4.9 s past 100 ms, uncapped; an error 100 (hog-watcher.ts)",
          "[health]") {
  HealthPolicy const p;
  CHECK(call_cost(p, milliseconds(50), false) == 0);
  CHECK(call_cost(p, milliseconds(100), false) == 0);
  CHECK(call_cost(p, milliseconds(2'550), false) == 10);
  CHECK(call_cost(p, milliseconds(5'000), false) == 20);
  CHECK(call_cost(p, milliseconds(9'900), false) == 40);  // not capped at 20
  CHECK(call_cost(p, milliseconds(1), true) == 100);
  CHECK(call_cost(p, milliseconds(5'000), true) == 120);  // both
}

TEST_CASE("Errors walk a plugin from healthy to degraded to paused; the pause ends degraded", "[health]") {
  HealthPolicy const p;
  PluginHealth h;
  std::int64_t now = 1'000'000;
  for (int i = 0; i < 20; ++i) CHECK_FALSE(h.charge(p, 100, now, "e"));  // 8,000 left: 80%, still healthy
  CHECK(h.state() == HealthState::healthy);
  auto t = h.charge(p, 100, now, "process_event threw");
  REQUIRE(t);
  CHECK(t->from == HealthState::healthy);
  CHECK(t->to == HealthState::degraded);
  CHECK(t->reason == "process_event threw");
  for (int i = 0; i < 78; ++i) CHECK_FALSE(h.charge(p, 100, now, "e"));
  CHECK(h.state() == HealthState::degraded);  // 100 tokens left
  t = h.charge(p, 100, now, "e");
  REQUIRE(t);
  CHECK(t->to == HealthState::paused);
  CHECK(t->reason.find("paused for 600 s") != std::string::npos);
  auto s = h.snapshot(p, now);
  CHECK(s.paused_until_ms == now + 600'000);
  CHECK(s.recent_pauses == 1);

  CHECK_FALSE(h.charge(p, 100, now + 1, "e"));   // charges while paused are ignored
  CHECK_FALSE(h.refresh(p, now + 599'999));      // not yet
  t = h.refresh(p, now + 600'000);
  REQUIRE(t);
  CHECK(t->to == HealthState::degraded);  // -1 + 600 s x 10/s = 5,999 tokens
  CHECK(h.snapshot(p, now + 600'000).tokens == Approx(5'999));
}

TEST_CASE("The third pause within a day disables the plugin until an admin enables it", "[health]") {
  HealthPolicy p;
  p.bucket_tokens = 100;
  p.refill_per_second = 0;
  PluginHealth h;
  std::int64_t now = 0;
  for (int pause = 1; pause <= 2; ++pause) {
    auto t = h.charge(p, 100, now, "e");
    REQUIRE(t);
    CHECK(t->to == HealthState::paused);
    now += p.pause.count();
    CHECK(h.refresh(p, now));
  }
  auto t = h.charge(p, 100, now, "e");
  REQUIRE(t);
  CHECK(t->to == HealthState::disabled);
  CHECK(t->reason.find("disabled until an admin enables it") != std::string::npos);
  CHECK_FALSE(h.refresh(p, now + 100 * p.pause.count()));  // time does not undo it
  CHECK(h.state() == HealthState::disabled);
  t = h.enable(p, now);
  REQUIRE(t);
  CHECK(t->from == HealthState::disabled);
  CHECK(t->to == HealthState::healthy);
  auto const s = h.snapshot(p, now);
  CHECK(s.tokens == 100);
  CHECK(s.recent_pauses == 0);
}

TEST_CASE("Pauses older than the memory window do not count toward disabling", "[health]") {
  HealthPolicy p;
  p.bucket_tokens = 100;
  p.refill_per_second = 0;
  PluginHealth h;
  std::int64_t now = 0;
  for (int i = 0; i < 5; ++i) {
    auto t = h.charge(p, 100, now, "e");
    REQUIRE(t);
    CHECK(t->to == HealthState::paused);  // never the third within a day
    now += p.pause_memory.count() / 2 + 1;
    h.refresh(p, now);
  }
}

TEST_CASE("A degraded plugin refills back to healthy", "[health]") {
  HealthPolicy const p;
  PluginHealth h;
  h.charge(p, 3'000, 0, "e");
  CHECK(h.state() == HealthState::degraded);
  CHECK_FALSE(h.refresh(p, 50'000));  // 7,000 + 500 tokens: still under 80%
  auto const t = h.refresh(p, 100'000);  // 7,000 + 1,000: 80%
  REQUIRE(t);
  CHECK(t->to == HealthState::healthy);
  CHECK(t->reason == "the bucket refilled");
}

TEST_CASE("With health off nothing is ever charged", "[health]") {
  HealthPolicy p;
  p.enabled = false;
  PluginHealth h;
  CHECK_FALSE(h.charge(p, 1e9, 0, "e"));
  CHECK(h.state() == HealthState::healthy);
}

TEST_CASE("Each (team, plugin) keeps its newest transitions with their reasons, bounded", "[health]") {
  HealthPolicy p;
  p.bucket_tokens = 300;
  p.refill_per_second = 0;
  std::int64_t now = 1'000'000;
  TeamPluginStates states(p, [&] { return now; });
  int observed = 0;
  states.observe([&](const TeamPluginState&, const HealthTransition&) { ++observed; });
  auto& s = states.of(3, "testkit");
  CHECK(s.transitions().empty());
  for (int i = 0; i < 3; ++i) states.report(s, s.health().charge(p, 100, now, "process_event threw #" + std::to_string(i)));
  states.report(s, s.health().enable(p, ++now));
  auto const history = s.transitions();
  REQUIRE(history.size() == 3);  // newest first: enabled, paused, degraded
  CHECK(history[0].to == HealthState::healthy);
  CHECK(history[0].reason == "enabled by an admin");
  CHECK(history[1].to == HealthState::paused);
  CHECK(history[1].reason.rfind("process_event threw #2", 0) == 0);
  CHECK(history[2].from == HealthState::healthy);
  CHECK(history[2].to == HealthState::degraded);
  CHECK(observed == 3);
  CHECK(states.find(3, "other") == nullptr);

  for (int round = 0; round < 40; ++round) {
    states.report(s, s.health().charge(p, 300, ++now, "round " + std::to_string(round)));
    states.report(s, s.health().enable(p, ++now));
  }
  auto const kept = s.transitions();
  CHECK(kept.size() == TeamPluginState::kept_transitions);
  CHECK(kept[1].reason.rfind("round 39", 0) == 0);
}

TEST_CASE("Quarantined calls are found by subject and hook, and only the newest are kept", "[health][crash]") {
  TeamPluginState state(2, "testkit");
  CHECK_FALSE(state.has_quarantine());
  state.quarantine({"event a", "process_event", "SIGSEGV (segmentation fault)"});
  state.quarantine({"event a", "process_event", "a second report of the same call"});  // from Redis, say
  state.quarantine({"event a", "on_event", "SIGABRT (aborted)"});
  CHECK(state.has_quarantine());
  REQUIRE(state.quarantined("event a", "process_event"));
  CHECK(state.quarantined("event a", "process_event")->cause == "SIGSEGV (segmentation fault)");
  CHECK(state.quarantined("event a", "on_event")->cause == "SIGABRT (aborted)");
  CHECK_FALSE(state.quarantined("event b", "process_event"));
  CHECK_FALSE(state.quarantined("job a", "process_event"));
  // Past the bound the oldest go first: "event a"'s two calls make room for the last two jobs.
  for (std::size_t i = 0; i < TeamPluginState::max_quarantined; ++i)
    state.quarantine({"job " + std::to_string(i), "run_job", "SIGSEGV (segmentation fault)"});
  CHECK_FALSE(state.quarantined("event a", "process_event"));
  CHECK_FALSE(state.quarantined("event a", "on_event"));
  CHECK(state.quarantined("job 0", "run_job"));
  state.quarantine({"job next", "run_job", "SIGSEGV (segmentation fault)"});
  CHECK_FALSE(state.quarantined("job 0", "run_job"));
  CHECK(state.quarantined("job 1", "run_job"));
  CHECK(state.quarantined("job " + std::to_string(TeamPluginState::max_quarantined - 1), "run_job"));
}

}  // namespace plugin_health_test
