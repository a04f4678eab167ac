// Changing one team's chain: all or nothing, errors naming the field, every
// other team and every instance shared with the set it replaces.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "config/server_config.hpp"
#include "loader/plugin_module.hpp"
#include "generations/chain_set.hpp"
#include "generations/live_chains.hpp"
#include "stores/memory_cache.hpp"
#include "common/plugin_log.hpp"
#include "stores/plugin_storage.hpp"
#include "../support/memory_services.hpp"

namespace chain_set_test {

using namespace posthog::server;

namespace {

struct Fixture : posthog::testing::MemoryServices {
  HostServices& services = host;
  ModuleRegistry modules{posthog::server::host_api()};
  std::vector<LoadError> refusals;
  std::shared_ptr<const ChainSet> base;

  Fixture() {
    auto config = ServerConfig::parse(R"({
      "plugins": [{"name": "testkit", "file": ")" + std::string(POSTHOG_TEST_MODULES_DIR) + R"(/testkit.so"}],
      "teams": [{"id": 1, "token": "phc_one", "plugins": [{"name": "testkit", "config": {"label": "one"}}]},
                {"id": 2, "token": "phc_two", "plugins": [{"name": "testkit", "config": {"label": "two"}}]}]})",
                                      ".");
    base = ChainSet::build(config, modules, services, refusals);
    REQUIRE(refusals.empty());
  }

  TeamSpec spec(std::int64_t id, std::string token, boost::json::object config) {
    TeamSpec t;
    t.id = id;
    t.token = std::move(token);
    t.plugins.push_back({"testkit", true, std::move(config)});
    return t;
  }
  std::string field_of(const TeamSpec& t) {
    try {
      ChainSet::with_team(*base, t, services);
    } catch (const TeamDocumentError& e) {
      return e.field();
    }
    return "(accepted)";
  }
};

}  // namespace

TEST_CASE("with_team replaces one team and shares everything else", "[pipeline][chain_set]") {
  Fixture f;
  auto next = ChainSet::with_team(*f.base, f.spec(2, "phc_two_new", {{"label", "changed"}}), f.services);
  CHECK(next->chain(1)->plugins()[0] == f.base->chain(1)->plugins()[0]);  // same copy
  CHECK(next->chain(2)->plugins()[0] != f.base->chain(2)->plugins()[0]);  // a new one
  CHECK(next->team(2)->plugins[0].config.at("label") == "changed");
  CHECK(f.base->team(2)->plugins[0].config.at("label") == "two");  // the old set is untouched
  CHECK(next->instances() == f.base->instances());
  CHECK(next->team_for_token("phc_two_new") == std::optional<std::int64_t>(2));
  CHECK_FALSE(next->team_for_token("phc_two"));
  CHECK(next->team(2)->token == "phc_two_new");

  auto added = ChainSet::with_team(*next, f.spec(3, "phc_three", {{"label", "three"}}), f.services);
  CHECK(added->team_count() == 3);
  auto removed = ChainSet::without_team(*added, 1);
  CHECK_FALSE(removed->chain(1));
  CHECK_FALSE(removed->team_for_token("phc_one"));
  CHECK(removed->team_count() == 2);
}

TEST_CASE("with_team refuses a bad change by field and changes nothing", "[pipeline][chain_set]") {
  Fixture f;
  CHECK(f.field_of(f.spec(2, "phc_two", {})) == "plugins[0].config.label");  // required field missing
  CHECK(f.field_of(f.spec(2, "phc_two", {{"label", "x"}, {"mode", "loud"}})) == "plugins[0].config.mode");
  CHECK(f.field_of(f.spec(2, "phc_two", {{"label", "refuse"}})) == "plugins[0]");  // setup_team threw
  CHECK(f.field_of(f.spec(2, "phc_one", {{"label", "x"}})) == "token");           // team 1's token
  auto unknown = f.spec(2, "phc_two", {{"label", "x"}});
  unknown.plugins.push_back({"no-such-plugin", true, {}});
  CHECK(f.field_of(unknown) == "plugins[1].name");
  auto twice = f.spec(2, "phc_two", {{"label", "x"}});
  twice.plugins.push_back({"testkit", true, {{"label", "y"}}});
  CHECK(f.field_of(twice) == "plugins[1].name");
  CHECK(f.base->team(2)->plugins[0].config.at("label") == "two");
}

TEST_CASE("A published set is used from the next pin; the old one lives while pinned", "[pipeline][chain_set]") {
  Fixture f;
  LiveChains live(f.base);
  auto pinned = live.current();
  live.publish(ChainSet::with_team(*f.base, f.spec(1, "phc_one", {{"label", "new"}}), f.services));
  CHECK(pinned->team(1)->plugins[0].config.at("label") == "one");
  CHECK(live.current()->team(1)->plugins[0].config.at("label") == "new");
  CHECK(pinned->chain(1)->plugins()[0] != live.current()->chain(1)->plugins()[0]);
}

}  // namespace chain_set_test
