// The chain rules (PostHog's worker/plugins/run.ts, plus our restore-on-error).
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "loader/plugin_instance.hpp"
#include "loader/plugin_module.hpp"
#include "pipeline/plugin_chain.hpp"
#include "stores/memory_cache.hpp"
#include "stores/plugin_log.hpp"
#include "stores/plugin_storage.hpp"
#include "../support/memory_services.hpp"

using namespace posthog::server;

namespace {

struct Fixture : posthog::testing::MemoryServices {
  std::shared_ptr<PluginInstance> instance = PluginInstance::create(
      PluginModule::load(std::string(POSTHOG_TEST_MODULES_DIR) + "/testkit.so"), {});
  PluginChain chain{5, {TeamPlugin::create(instance, 5, {{"label", "first"}}, host)}};
  ChainScratch scratch;
  ChainStats stats;

  boost::json::object event(boost::json::object props) {
    return {{"uuid", "0190-test"}, {"event", "e"}, {"distinct_id", "d"}, {"team_id", 5},
            {"properties", std::move(props)}};
  }
};

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
}

TEST_CASE("A plugin cannot change team_id", "[pipeline][chain][isolation]") {
  Fixture f;
  auto e = f.event({{"change_team", true}});
  CHECK(f.chain.process(e, f.scratch, f.log, f.stats));
  CHECK(e.at("team_id") == 5);
  CHECK(f.stats.illegal_team_changes == 1);
  auto errors = f.log.errors(5, "testkit");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].kind == "IllegalOperationError");
  CHECK(errors[0].message.find("changed team_id (to 999)") != std::string::npos);
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
