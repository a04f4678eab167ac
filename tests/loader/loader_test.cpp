// Every refusal of the loader, each against a module built broken on purpose
// (tests/modules/broken_module.cpp), and the sharing rules: one module per file,
// one instance per module, one copy per team.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <posthog/version.hpp>
#include <filesystem>
#include <fstream>

#include "common/load_error.hpp"
#include "host/plugin_instance.hpp"
#include "loader/plugin_module.hpp"
#include "host/plugin_scope.hpp"
#include "stores/memory_cache.hpp"
#include "common/plugin_log.hpp"
#include "stores/plugin_storage.hpp"
#include "../support/memory_services.hpp"

namespace loader_test {

using namespace posthog::server;
namespace fs = std::filesystem;

namespace {

fs::path module_path(const std::string& name) { return fs::path(POSTHOG_TEST_MODULES_DIR) / (name + ".so"); }

LoadError refusal_of(const fs::path& file) {
  try {
    PluginModule::load(file, posthog::server::host_api());
  } catch (const LoadError& e) {
    return e;
  }
  FAIL("module " << file << " was accepted");
  throw std::logic_error("unreachable");
}

bool mentions(const LoadError& e, const std::string& text) {
  return std::string(e.what()).find(text) != std::string::npos;
}

using Services = posthog::testing::MemoryServices;

}  // namespace

TEST_CASE("A sound module loads and shows its descriptor", "[loader]") {
  auto m = PluginModule::load(module_path("testkit"), posthog::server::host_api());
  CHECK(m->name() == "testkit");
  CHECK(m->version() == "1.0.0");
  CHECK(m->has(POSTHOG_CAP_SETUP_INSTANCE));
  CHECK(m->has(POSTHOG_CAP_PROCESS_EVENT));
  CHECK(m->has(POSTHOG_CAP_ON_EVENT));
  CHECK(m->has(POSTHOG_CAP_EXPORT_EVENTS));
  CHECK(m->has(POSTHOG_CAP_RUN_EVERY_MINUTE));
  CHECK(m->has(POSTHOG_CAP_JOBS));
  CHECK_FALSE(m->has(POSTHOG_CAP_RUN_EVERY_DAY));
  CHECK(m->has_hook(&posthog_plugin_vtable::process_event));
  CHECK(m->has_hook(&posthog_plugin_vtable::export_events));
  CHECK(m->has_hook(&posthog_plugin_vtable::run_job));
  CHECK_FALSE(m->has_hook(&posthog_plugin_vtable::run_every_day));
  CHECK(m->job_names() == std::vector<std::string>{"remember", "flaky", "explode", "capture", "crash"});
  CHECK(m->manifest().field("label")->required);
}

TEST_CASE("Refusal: a file that is not a shared object", "[loader][refusal]") {
  auto e = refusal_of(module_path("not_a_module"));
  CHECK(e.step() == LoadStep::elf);
  CHECK(mentions(e, "not_a_module.so"));
  CHECK(mentions(e, "not a shared object"));
}

TEST_CASE("Refusal: a missing file", "[loader][refusal]") {
  auto e = refusal_of(module_path("does_not_exist"));
  CHECK(e.step() == LoadStep::file);
  CHECK(mentions(e, "No such file"));
}

TEST_CASE("Refusal: a shared object that is not a plugin module", "[loader][refusal]") {
  auto e = refusal_of(POSTHOG_SYSTEM_LIBRARY);
  CHECK(e.step() == LoadStep::descriptor);
  CHECK(mentions(e, "no .posthog_plugin section"));
}

TEST_CASE("Refusal: a truncated file", "[loader][refusal]") {
  auto copy = fs::temp_directory_path() / "posthog-truncated-testkit.so";
  fs::copy_file(module_path("testkit"), copy, fs::copy_options::overwrite_existing);
  fs::resize_file(copy, fs::file_size(copy) / 3);
  auto e = refusal_of(copy);
  CHECK((e.step() == LoadStep::elf || e.step() == LoadStep::descriptor || e.step() == LoadStep::dlopen));
  fs::remove(copy);
}

TEST_CASE("Refusal: wrong magic", "[loader][refusal]") {
  auto e = refusal_of(module_path("bad_magic"));
  CHECK(e.step() == LoadStep::descriptor);
  CHECK(mentions(e, "magic: server expects 0x31474c5047484f50, module has 0x0123456789abcdef"));
}

TEST_CASE("Refusal: ABI major mismatch", "[loader][refusal]") {
  auto e = refusal_of(module_path("bad_abi_major"));
  CHECK(e.step() == LoadStep::descriptor);
  CHECK(mentions(e, "abi_major: server has 1, plugin has 99"));
}

TEST_CASE("Refusal: plugin needs a newer ABI minor", "[loader][refusal]") {
  auto e = refusal_of(module_path("bad_abi_minor"));
  CHECK(e.step() == LoadStep::descriptor);
  CHECK(mentions(e, "abi_minor: server has 1.4, plugin needs 1.5"));
}

TEST_CASE("Refusal: build fingerprint mismatch shows both fingerprints, field by field", "[loader][refusal]") {
  auto e = refusal_of(module_path("bad_fingerprint"));
  CHECK(e.step() == LoadStep::descriptor);
  REQUIRE(e.details().size() == 2);
  CHECK(e.details()[0].rfind("build.compiler: server has gcc 12, plugin has gcc 99", 0) == 0);
  CHECK(e.details()[1].rfind("build.boost_version: server has 1.81.0, plugin has 1.74.0", 0) == 0);
}

TEST_CASE("Refusal: a descriptor header shorter than every 1.x header", "[loader][refusal]") {
  auto e = refusal_of(module_path("bad_header_size"));
  CHECK(e.step() == LoadStep::descriptor);
  CHECK(mentions(e, "header_size: the plugin's descriptor header has 40 bytes; every ABI 1.x header has at least 88"));
}

TEST_CASE("Refusal: capability bits and hook table disagree, one line per hook", "[loader][refusal]") {
  auto e = refusal_of(module_path("disagreeing_capabilities"));
  CHECK(e.step() == LoadStep::capabilities);
  REQUIRE(e.details().size() == 3);
  CHECK(e.details()[0].rfind(
            "process_event: the hook table has process_event, the descriptor's capabilities do not list it", 0) == 0);
  CHECK(e.details()[1].rfind("on_event: the descriptor's capabilities list it, the hook table has no on_event", 0) ==
        0);
  CHECK(e.details()[2].rfind("metrics: the descriptor's capabilities list it, declared_metrics names none", 0) == 0);
  CHECK(mentions(e, "rebuild the module with POSTHOG_PLUGIN(Class)"));
}

TEST_CASE("A module built at ABI 1.3 (SDK 0.1.0) loads on this server and runs", "[loader][abi]") {
  auto m = PluginModule::load(module_path("built_for_abi_1_3"), posthog::server::host_api());
  auto const& header = m->descriptor().header;
  CHECK(header.abi_minor == 3);
  CHECK(header.abi_header_hash != POSTHOG_ABI_HEADER_HASH);  // an older minor's abi.h: not compared
  CHECK(header.header_size == 88);
  CHECK(m->vtable().size == 112);
  CHECK(m->has_hook(&posthog_plugin_vtable::process_event));
  CHECK(posthog::server::host_api()->retired_find_service == nullptr);  // what it is handed instead of 1.3's lookup

  Services s;
  auto team = TeamPlugin::create(PluginInstance::create(m, {}), 5, {}, s.host);
  boost::json::object event{{"event", "e"}, {"team_id", 5}, {"properties", boost::json::object{}}};
  posthog_error error{};
  REQUIRE(team->process_event(event, error) == POSTHOG_OK);
  CHECK(event.at("properties").at("processed_by") == "built_for_abi_1_3");
}

TEST_CASE("The SDK version is shown, not compared: a module of another SDK minor loads", "[loader][abi]") {
  auto m = PluginModule::load(module_path("other_sdk_minor"), posthog::server::host_api());
  CHECK(m->descriptor().header.build.sdk_version == posthog::sdk_version + 100);
  CHECK(describe(m->descriptor().header.build).rfind("sdk 0.2.0, ", 0) == 0);
}

TEST_CASE("Refusal: no entry symbol", "[loader][refusal]") {
  auto e = refusal_of(module_path("no_entry"));
  CHECK(e.step() == LoadStep::entry_symbol);
  CHECK(mentions(e, "no exported symbol posthog_plugin_entry_v1"));
}

TEST_CASE("Refusal: an undefined symbol is reported by dlopen", "[loader][refusal]") {
  auto e = refusal_of(module_path("undefined_symbol"));
  CHECK(e.step() == LoadStep::dlopen);
  CHECK(mentions(e, "posthog_test_symbol_that_nobody_defines"));
}

TEST_CASE("Refusal: invalid manifest names the field", "[loader][refusal]") {
  auto e = refusal_of(module_path("bad_manifest"));
  CHECK(e.step() == LoadStep::manifest);
  CHECK(e.field() == "config[0].type");
  CHECK(mentions(e, "'number' is not one of string, json, choice, attachment"));
}

TEST_CASE("Refusal: a job handler named like the server's scheduled runs", "[loader][refusal]") {
  auto e = refusal_of(module_path("reserved_job_name"));
  CHECK(e.step() == LoadStep::manifest);
  CHECK(mentions(e, "job name '$run_every_minute' is reserved"));
}

TEST_CASE("Refusal: metrics other than sum, max and min, or declared twice (extensions/metrics.ts)",
          "[loader][refusal]") {
  auto e = refusal_of(module_path("bad_metrics"));
  CHECK(e.step() == LoadStep::manifest);
  CHECK(e.field() == "metrics");
  CHECK(mentions(e, "metric 'p99': only sum, max and min are supported"));
  CHECK(mentions(e, "metric 'requests' is declared twice"));
}

TEST_CASE("Refusal: setup_instance throws", "[loader][refusal]") {
  auto m = PluginModule::load(module_path("throws_in_setup_instance"), posthog::server::host_api());
  try {
    PluginInstance::create(m, {});
    FAIL("accepted");
  } catch (const LoadError& e) {
    CHECK(e.step() == LoadStep::setup_instance);
    CHECK(mentions(e, "setup_instance threw std::runtime_error: cannot open /nonexistent/GeoLite2-City.mmdb"));
  }
}

TEST_CASE("Refusal: setup_team throws, and a config failing the schema", "[loader][refusal]") {
  Services s;
  auto instance = PluginInstance::create(PluginModule::load(module_path("throws_in_setup_team"), posthog::server::host_api()), {});
  try {
    TeamPlugin::create(instance, 42, {}, s.host);
    FAIL("accepted");
  } catch (const LoadError& e) {
    CHECK(e.step() == LoadStep::setup_team);
    CHECK(mentions(e, "team 42, plugin throws_in_setup_team: setup_team threw std::invalid_argument: team 42 has no API key"));
  }

  auto testkit = PluginInstance::create(PluginModule::load(module_path("testkit"), posthog::server::host_api()), {});
  try {
    TeamPlugin::create(testkit, 7, {{"mode", "loud"}, {"label", "x"}}, s.host);
    FAIL("accepted");
  } catch (const LoadError& e) {
    CHECK(e.step() == LoadStep::team_config);
    CHECK(e.field() == "mode");
    CHECK(mentions(e, "team 7, plugin testkit: config field 'mode': 'loud' is not one of: stamp, quiet"));
  }
  try {
    TeamPlugin::create(testkit, 7, {}, s.host);
    FAIL("accepted");
  } catch (const LoadError& e) {
    CHECK(e.field() == "label");
  }
}

TEST_CASE("One module per file identity, never two of one name", "[loader]") {
  ModuleRegistry registry{posthog::server::host_api()};
  auto a = registry.load(module_path("sound_module"));
  auto b = registry.load(module_path("sound_module"));
  CHECK(a == b);
  auto copy = fs::temp_directory_path() / "posthog-second-sound_module.so";
  fs::copy_file(module_path("sound_module"), copy, fs::copy_options::overwrite_existing);
  try {
    registry.load(copy);
    FAIL("two modules of one name");
  } catch (const LoadError& e) {
    CHECK(mentions(e, "a module named 'sound_module' is already loaded"));
  }
  fs::remove(copy);
}

TEST_CASE("One instance for 1,000 teams; each team its own configured copy", "[loader]") {
  Services s;
  auto instance = PluginInstance::create(PluginModule::load(module_path("testkit"), posthog::server::host_api()), {});
  std::vector<std::shared_ptr<TeamPlugin>> copies;
  for (int team = 1; team <= 1000; ++team)
    copies.push_back(TeamPlugin::create(instance, team, {{"label", "team-" + std::to_string(team)}}, s.host));
  int setups = -1;
  for (auto const& copy : copies) {
    boost::json::object event{{"event", "e"}, {"team_id", copy->team_id()}, {"properties", boost::json::object{}}};
    posthog_error error{};
    REQUIRE(copy->process_event(event, error) == POSTHOG_OK);
    auto const& props = event.at("properties").as_object();
    CHECK(props.at("testkit_label").as_string() == "team-" + std::to_string(copy->team_id()));
    if (setups < 0) setups = static_cast<int>(props.at("testkit_instance_setups").as_int64());
    CHECK(props.at("testkit_instance_setups") == setups);  // never set up again
    CHECK(props.at("testkit_instance") == setups);         // the same shared state for everyone
  }
  CHECK(setups >= 1);
}

TEST_CASE("A plugin's cache is scoped to its team", "[loader][isolation]") {
  Services s;
  auto instance = PluginInstance::create(PluginModule::load(module_path("testkit"), posthog::server::host_api()), {});
  auto team1 = TeamPlugin::create(instance, 1, {{"label", "a"}}, s.host);
  auto team2 = TeamPlugin::create(instance, 2, {{"label", "b"}}, s.host);
  posthog_error error{};
  boost::json::object e1{{"event", "e"}, {"distinct_id", "same"}, {"team_id", 1},
                         {"properties", {{"seq", 5}}}};
  REQUIRE(team1->process_event(e1, error) == POSTHOG_OK);
  // Team 2 sees no sequence for the same distinct_id: seq 1 is in order for it.
  boost::json::object e2{{"event", "e"}, {"distinct_id", "same"}, {"team_id", 2},
                         {"properties", {{"seq", 1}}}};
  REQUIRE(team2->process_event(e2, error) == POSTHOG_OK);
  CHECK_FALSE(e2.at("properties").as_object().contains("out_of_order"));
  CHECK(s.cache.get("@plugin/testkit/1/seq/same") == std::optional<std::string>("5"));
  CHECK(s.cache.get("@plugin/testkit/2/seq/same") == std::optional<std::string>("1"));
}

}  // namespace loader_test
