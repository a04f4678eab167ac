// Set-up retries against PostHog's LazyPluginVM (src/worker/vm/lazy.ts,
// MAX_SETUP_RETRIES = 10, INITIALIZATION_RETRY_BASE_MS = 3000, doubling): a
// failed setup_team is tried again 3 s, 6 s, 12 s ... later; after the tenth
// failure the team's plugin is disabled until an admin enables it again.
// Events go through the rest of the chain meanwhile. The clock is injected.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <algorithm>

#include "config/server_config.hpp"
#include "generations/setup_retries.hpp"
#include "health/team_plugin_states.hpp"
#include "loader/plugin_module.hpp"
#include "generations/chain_set.hpp"
#include "generations/live_chains.hpp"
#include "../support/memory_services.hpp"

namespace setup_retries_test {

using namespace posthog::server;

namespace {

struct Fixture : posthog::testing::MemoryServices {
  std::int64_t now_ms = 1'000'000;
  TeamPluginStates states{{}, [this] { return now_ms; }};
  LiveChains chains;
  SetupRetries retries{chains, host, {}, [this] { return now_ms; }};
  ModuleRegistry modules{posthog::server::host_api()};
  std::vector<LoadError> refusals;

  explicit Fixture(const std::string& label) {
    host.states = &states;
    host.setup_retries = &retries;
    auto config = ServerConfig::parse(
        boost::json::serialize(boost::json::object{
            {"plugins",
             {boost::json::object{{"name", "testkit"}, {"file", std::string(POSTHOG_TEST_MODULES_DIR) + "/testkit.so"}},
              boost::json::object{{"name", "helloworld"}}}},
            {"teams",
             {boost::json::object{{"id", 7},
                                  {"token", "phc_7"},
                                  {"plugins",
                                   {boost::json::object{{"name", "testkit"}, {"config", {{"label", label}}}},
                                    boost::json::object{{"name", "helloworld"}}}}}}}}),
        POSTHOG_PLUGINS_DIR);
    chains.publish(ChainSet::build(config, modules, host, refusals));
  }

  bool serving_testkit() const {
    auto const& copies = chains.current()->chain(7)->plugins();
    return std::any_of(copies.begin(), copies.end(), [](auto const& c) { return c->name() == "testkit"; });
  }
  SetupStatus setup() const { return states.find(7, "testkit")->setup(); }
  // Moves the clock to the next attempt and runs it.
  void next_attempt() {
    now_ms = setup().next_at_ms;
    CHECK(retries.step() == 1);
  }
};

std::vector<std::string> deferred_of_an_event(LiveChains& chains, PluginLog& log) {
  boost::json::object e{{"uuid", "u"}, {"event", "e"}, {"distinct_id", "d"}, {"team_id", 7},
                        {"properties", boost::json::object{}}};
  ChainScratch scratch;
  ChainStats stats;
  auto const set = chains.current();
  REQUIRE(set->chain(7)->process(e, scratch, log, stats));
  set->chain(7)->record_outcome(e, scratch);
  std::vector<std::string> out;
  for (auto const& v : e.at("properties").at("$plugins_deferred").as_array()) out.emplace_back(v.as_string());
  CHECK(e.at("properties").at("hello") == "world");  // the rest of the chain ran
  return out;
}

}  // namespace

TEST_CASE("A failed setup_team is retried 3 s, 6 s, 12 s later; events skip the plugin meanwhile (lazy.ts)",
          "[health][setup]") {
  Fixture f("flaky setup 3");  // attempts 1, 2 and 3 fail, 4 succeeds
  CHECK(f.refusals.empty());  // not a refusal: a set-up still to come
  CHECK_FALSE(f.serving_testkit());
  CHECK(f.setup().phase == SetupStatus::Phase::retrying);
  CHECK(f.setup().attempts == 1);
  CHECK(f.setup().last_error.find("the remote this plugin needs at set-up is down") != std::string::npos);
  CHECK(deferred_of_an_event(f.chains, f.log) == std::vector<std::string>{"testkit (7)"});

  std::int64_t const start = f.now_ms;
  CHECK(f.setup().next_at_ms == start + 3'000);
  f.now_ms = start + 2'999;
  CHECK(f.retries.step() == 0);  // not due yet
  f.next_attempt();              // attempt 2 fails
  CHECK(f.setup().next_at_ms == start + 3'000 + 6'000);
  f.next_attempt();  // attempt 3 fails
  CHECK(f.setup().next_at_ms == start + 3'000 + 6'000 + 12'000);
  CHECK(f.log.errors(7, "testkit").size() == 3);
  f.next_attempt();  // attempt 4 succeeds: the chain has it, in its place
  CHECK(f.serving_testkit());
  CHECK(f.chains.current()->chain(7)->plugins().front()->name() == "testkit");
  CHECK(f.setup().phase == SetupStatus::Phase::ok);
  CHECK(f.chains.current()->chain(7)->awaiting_setup().empty());
  CHECK(deferred_of_an_event(f.chains, f.log) == std::vector<std::string>{"testkit (7)"});  // its on_event only
  CHECK(f.log.lines(7, "testkit").back().message == "setup_team succeeded; the plugin runs again");
}

TEST_CASE("After the tenth failed set-up the plugin is disabled; an admin's enable starts again",
          "[health][setup]") {
  Fixture f("flaky setup 12");
  std::int64_t waited = 0;
  for (int attempt = 2; attempt <= 10; ++attempt) {
    auto const before = f.now_ms;
    f.next_attempt();
    waited += f.now_ms - before;
  }
  CHECK(waited == 3'000 * ((1 << 9) - 1));  // 3 + 6 + ... + 768 s
  CHECK(f.setup().phase == SetupStatus::Phase::failed);
  CHECK(f.setup().attempts == 10);
  CHECK(f.log.lines(7, "testkit").back().message.find("disabled for this team until an admin enables it") !=
        std::string::npos);
  f.now_ms += 86'400'000;
  CHECK(f.retries.step() == 0);  // given up: time alone does not bring it back
  CHECK_FALSE(f.serving_testkit());
  CHECK(deferred_of_an_event(f.chains, f.log) == std::vector<std::string>{"testkit (7)"});

  REQUIRE(f.retries.retry_now(7, "testkit"));  // the admin API's enable
  CHECK(f.setup().phase == SetupStatus::Phase::retrying);
  CHECK(f.retries.step() == 1);  // attempt 11 (of the module's 12 failures): a new series, its first failure
  CHECK(f.setup().attempts == 1);
  f.next_attempt();  // the 12th failure
  f.next_attempt();  // and it comes up
  CHECK(f.serving_testkit());
  CHECK(f.setup().phase == SetupStatus::Phase::ok);
  CHECK_FALSE(f.retries.retry_now(7, "testkit"));  // nothing to retry any more
}

TEST_CASE("A retry for a team changed meanwhile is dropped: the change set it up", "[health][setup]") {
  Fixture f("refuse");
  CHECK(f.setup().phase == SetupStatus::Phase::retrying);
  TeamSpec spec = *f.chains.current()->team(7);
  spec.plugins[0].config = {{"label", "fixed"}};
  f.chains.update([&](const ChainSet& now) { return ChainSet::with_team(now, spec, f.host); });
  CHECK(f.serving_testkit());
  CHECK(f.setup().phase == SetupStatus::Phase::ok);  // the new copy's set-up cleared it
  f.now_ms += 3'000;
  CHECK(f.retries.step() == 1);  // looked at, and dropped
  CHECK(f.chains.current()->chain(7)->plugins().front()->name() == "testkit");
  f.now_ms += 1'000'000;
  CHECK(f.retries.step() == 0);
}

}  // namespace setup_retries_test
