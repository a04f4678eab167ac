// Swapping a module on a live chain set: the new version serves every team
// that uses it once swap_in returns, every broken build is refused at its step
// while the running version keeps serving, rollback goes back one version,
// and the folder watch reports a file renamed into place.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <unistd.h>

#include "config/server_config.hpp"
#include "generations/module_swap.hpp"
#include "loader/plugin_dir_watch.hpp"
#include "loader/plugin_module.hpp"
#include "generations/chain_set.hpp"
#include "generations/live_chains.hpp"
#include "../support/memory_services.hpp"

namespace module_swap_test {

using namespace posthog::server;
namespace fs = std::filesystem;

namespace {

fs::path build(const std::string& name) {
  return fs::path(POSTHOG_TEST_MODULES_DIR) / "swapkit" / (name + ".so");
}

// A plugins folder of its own, with swapkit.so (v1) in it; teams 1 and 2 run
// swapkit, team 3 runs testkit only.
struct Fixture : posthog::testing::MemoryServices {
  fs::path dir = fs::temp_directory_path() / ("posthog-swap-" + std::to_string(::getpid()));
  ModuleRegistry modules{posthog::server::host_api()};
  std::vector<LoadError> refusals;
  LiveChains live;
  PluginVersions versions;
  std::optional<ModuleSwap> swap;

  explicit Fixture(ModuleSwapOptions options = {}) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    place("v1");
    auto config = ServerConfig::parse(R"({
      "plugins_dir": ")" + dir.string() + R"(",
      "plugins": [{"name": "swapkit"},
                  {"name": "testkit", "file": ")" + std::string(POSTHOG_TEST_MODULES_DIR) + R"(/testkit.so"}],
      "teams": [{"id": 1, "token": "phc_one", "plugins": [{"name": "swapkit", "config": {"label": "one"}},
                                                          {"name": "testkit", "config": {"label": "one"}}]},
                {"id": 2, "token": "phc_two", "plugins": [{"name": "swapkit"}]},
                {"id": 3, "token": "phc_three", "plugins": [{"name": "testkit", "config": {"label": "three"}}]}]})",
                                      ".");
    live.publish(ChainSet::build(config, modules, host, refusals));
    REQUIRE(refusals.empty());
    swap.emplace(config.plugins, live, host, versions, options);
    swap->record_startup(refusals);
  }
  ~Fixture() { fs::remove_all(dir); }

  // Renamed into place, as a build script should.
  void place(const std::string& name) {
    fs::copy_file(build(name), dir / "swapkit.so.tmp", fs::copy_options::overwrite_existing);
    fs::rename(dir / "swapkit.so.tmp", dir / "swapkit.so");
  }

  // What version stamps team `team`'s events in `set` ("" when none does).
  static std::string stamp(const ChainSet& set, std::int64_t team) {
    boost::json::object event{{"event", "e"}, {"distinct_id", "d"}, {"team_id", team},
                              {"properties", boost::json::object{}}};
    ChainScratch scratch;
    PluginLog log;
    ChainStats stats;
    set.chain(team)->process(event, scratch, log, stats);
    auto const* v = event.at("properties").as_object().if_contains("swapkit_version");
    return v ? std::string(v->as_string()) : "";
  }
  std::string stamp(std::int64_t team) const { return stamp(*live.current(), team); }
};

}  // namespace

TEST_CASE("A swap serves the new version to every team that uses it, and shares the rest", "[loader][swap]") {
  ModuleSwapOptions options;
  options.drain_deadline = std::chrono::milliseconds(1);  // the test holds the old set itself
  Fixture f(options);
  auto const before = f.live.current();
  CHECK(f.stamp(1) == "1.0.0");
  CHECK(f.versions.current("swapkit")->version() == "1.0.0");

  f.place("v2");
  auto const result = f.swap->swap_in("swapkit", "test");
  REQUIRE(result.outcome == SwapResult::Outcome::swapped);
  CHECK(result.from_version == "1.0.0");
  CHECK(result.to_version == "2.0.0");
  CHECK(result.generation == f.live.generation());
  CHECK_FALSE(result.drained);
  CHECK(f.stamp(1) == "2.0.0");
  CHECK(f.stamp(2) == "2.0.0");
  CHECK(Fixture::stamp(*before, 1) == "1.0.0");  // a batch that pinned the old set finishes on it
  // Team 3 does not use swapkit: its chain is the very same copy.
  CHECK(f.live.current()->chain(3)->plugins()[0] == before->chain(3)->plugins()[0]);
  // Team 1's testkit copy is kept; only the swapkit copy is new.
  CHECK(f.live.current()->chain(1)->plugins()[1] == before->chain(1)->plugins()[1]);
  CHECK(f.live.current()->chain(1)->plugins()[0] != before->chain(1)->plugins()[0]);

  CHECK(f.versions.current("swapkit")->version() == "2.0.0");
  CHECK(f.versions.previous("swapkit")->version() == "1.0.0");
  CHECK(f.versions.swaps() == 1);
  auto const json = f.versions.to_json("swapkit");
  CHECK(json.at("serving").at("version") == "2.0.0");
  CHECK(json.at("previous").at("version") == "1.0.0");
}

TEST_CASE("The same bytes again are no swap", "[loader][swap]") {
  Fixture f;
  auto const generation = f.live.generation();
  f.place("v1");  // a new inode, the same build
  CHECK(f.swap->swap_in("swapkit", "test").outcome == SwapResult::Outcome::unchanged);
  CHECK(f.live.generation() == generation);
  CHECK(f.versions.swaps() == 0);
}

TEST_CASE("Every broken build is refused at its step and the running version keeps serving", "[loader][swap]") {
  Fixture f;
  struct Case {
    std::string build;
    std::string step;
  };
  for (auto const& c : {Case{"bad_abi", "descriptor"}, Case{"no_entry", "entry_symbol"},
                        Case{"throws_in_setup_instance", "setup_instance"}, Case{"strict_schema", "team_config"}}) {
    DYNAMIC_SECTION(c.build) {
      auto const generation = f.live.generation();
      f.place(c.build);
      auto const result = f.swap->swap_in("swapkit", "test");
      REQUIRE(result.outcome == SwapResult::Outcome::refused);
      REQUIRE(result.refusal);
      CHECK(result.refusal->step == c.step);
      CHECK(result.refusal->file == (f.dir / "swapkit.so").string());  // the user's file, not the private copy
      CHECK(f.live.generation() == generation);
      CHECK(f.stamp(1) == "1.0.0");
      CHECK(f.stamp(2) == "1.0.0");
      auto const failed = f.versions.to_json("swapkit").at("failed").as_array();
      REQUIRE(failed.size() == 1);
      CHECK(failed[0].at("step").as_string() == c.step);
      if (c.step == "team_config") {
        CHECK(result.refusal->field == "region");
        CHECK(result.refusal->team_id.has_value());
        CHECK(failed[0].at("field") == "region");
      }
      // The refusal is in the plugin's error log too.
      CHECK_FALSE(f.log.errors(result.refusal->team_id.value_or(0), "swapkit").empty());
      // The next good build is picked up normally.
      f.place("v2");
      CHECK(f.swap->swap_in("swapkit", "test").outcome == SwapResult::Outcome::swapped);
      CHECK(f.stamp(1) == "2.0.0");
    }
  }
}

TEST_CASE("A truncated file, a module of another name and a missing file are refused", "[loader][swap]") {
  Fixture f;
  {
    auto const full = fs::file_size(build("v2"));
    fs::copy_file(build("v2"), f.dir / "swapkit.so", fs::copy_options::overwrite_existing);
    fs::resize_file(f.dir / "swapkit.so", full / 3);
    auto const result = f.swap->swap_in("swapkit", "test");
    REQUIRE(result.refusal);
    CHECK((result.refusal->step == "elf" || result.refusal->step == "descriptor"));
  }
  {
    fs::copy_file(fs::path(POSTHOG_TEST_MODULES_DIR) / "testkit.so", f.dir / "swapkit.so",
                  fs::copy_options::overwrite_existing);
    auto const result = f.swap->swap_in("swapkit", "test");
    REQUIRE(result.refusal);
    CHECK(result.refusal->step == "manifest");
    CHECK_THAT(result.refusal->message, Catch::Contains("called 'testkit'"));
  }
  {
    fs::remove(f.dir / "swapkit.so");
    auto const result = f.swap->swap_in("swapkit", "test");
    REQUIRE(result.refusal);
    CHECK(result.refusal->step == "file");
  }
  CHECK(f.stamp(1) == "1.0.0");
  CHECK(f.versions.to_json("swapkit").at("failed").as_array().size() == 3);
}

TEST_CASE("A file overwritten in place never changes the image that serves", "[loader][swap]") {
  Fixture f;
  auto pinned = f.live.current();
  // cp over the file in place (same inode, new bytes) while v1 serves from it.
  {
    std::ifstream in(build("v2"), std::ios::binary);
    std::ofstream out(f.dir / "swapkit.so", std::ios::binary | std::ios::trunc);
    out << in.rdbuf();
  }
  CHECK(Fixture::stamp(*pinned, 1) == "1.0.0");
  pinned.reset();
  CHECK(f.swap->swap_in("swapkit", "test").outcome == SwapResult::Outcome::swapped);
  CHECK(f.stamp(1) == "2.0.0");
}

TEST_CASE("Rollback serves the version before; with none there is nothing to do", "[loader][swap]") {
  Fixture f;
  auto none = f.swap->roll_back("swapkit");
  CHECK(none.outcome == SwapResult::Outcome::refused);
  CHECK(f.stamp(1) == "1.0.0");

  f.place("v2");
  REQUIRE(f.swap->swap_in("swapkit", "test").outcome == SwapResult::Outcome::swapped);
  auto back = f.swap->roll_back("swapkit");
  REQUIRE(back.outcome == SwapResult::Outcome::swapped);
  CHECK(back.to_version == "1.0.0");
  CHECK(f.stamp(1) == "1.0.0");
  CHECK(f.versions.previous("swapkit")->version() == "2.0.0");
  // The versions that served, newest first, with how each came to serve.
  auto const history = f.versions.to_json("swapkit").at("history").as_array();
  REQUIRE(history.size() == 3);
  CHECK(history[0].at("version") == "1.0.0");
  CHECK(history[0].at("trigger") == "rollback");
  CHECK(history[1].at("version") == "2.0.0");
  CHECK(history[1].at("trigger") == "test");
  CHECK(history[2].at("version") == "1.0.0");
  CHECK(history[2].at("trigger") == "startup");
  // The folder watch and SIGHUP look only at files that changed: the file
  // still holds v2, and the rollback to v1 stands.
  for (auto const& r : f.swap->swap_changed("SIGHUP")) CHECK(r.outcome == SwapResult::Outcome::unchanged);
  CHECK(f.swap->swap_in("swapkit", "inotify", f.dir / "swapkit.so", true).outcome == SwapResult::Outcome::unchanged);
  CHECK(f.stamp(1) == "1.0.0");
  // And forth again.
  REQUIRE(f.swap->roll_back("swapkit").outcome == SwapResult::Outcome::swapped);
  CHECK(f.stamp(1) == "2.0.0");
  // An admin reload asks for the file as it is, whatever was seen before.
  REQUIRE(f.swap->roll_back("swapkit").outcome == SwapResult::Outcome::swapped);
  CHECK(f.swap->swap_in("swapkit", "admin").outcome == SwapResult::Outcome::swapped);
  CHECK(f.stamp(1) == "2.0.0");
}

TEST_CASE("A refused build is not tried again until its file changes", "[loader][swap]") {
  Fixture f;
  f.place("no_entry");
  CHECK(f.swap->swap_in("swapkit", "inotify", f.dir / "swapkit.so", true).outcome == SwapResult::Outcome::refused);
  for (auto const& r : f.swap->swap_changed("SIGHUP")) CHECK(r.outcome == SwapResult::Outcome::unchanged);
  CHECK(f.versions.to_json("swapkit").at("failed").as_array().size() == 1);
  f.place("v2");
  for (auto const& r : f.swap->swap_changed("SIGHUP"))
    CHECK(r.outcome == (r.plugin == "swapkit" ? SwapResult::Outcome::swapped : SwapResult::Outcome::unchanged));
  CHECK(f.stamp(1) == "2.0.0");
}

TEST_CASE("A swap waits until no set holds the old version, up to its deadline", "[loader][swap]") {
  ModuleSwapOptions options;
  options.drain_deadline = std::chrono::milliseconds(20);
  Fixture f(options);
  {
    auto held = f.live.current();  // a worker in the middle of a batch
    f.place("v2");
    auto const result = f.swap->swap_in("swapkit", "test");
    CHECK(result.outcome == SwapResult::Outcome::swapped);
    CHECK_FALSE(result.drained);
    CHECK(Fixture::stamp(*held, 1) == "1.0.0");  // still whole, still v1
  }
  f.place("v1");
  auto const result = f.swap->swap_in("swapkit", "test");
  CHECK(result.drained);  // nobody held the set it replaced

  // A set published in between (a team change) does not hide an older one
  // still pinned with the old version in it.
  auto held = f.live.current();  // v1 serving
  TeamSpec team;
  team.id = 9;
  team.token = "phc_nine";
  f.live.update([&](const ChainSet& now) { return ChainSet::with_team(now, team, f.host); });
  f.place("v2");
  CHECK_FALSE(f.swap->swap_in("swapkit", "test").drained);
  held.reset();
}

TEST_CASE("The folder watch reports a file renamed into place, once", "[loader][swap]") {
  auto const dir = fs::temp_directory_path() / ("posthog-watch-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<fs::path> reported;
  {
    PluginDirWatch watch({dir}, [&](const fs::path& file) {
      std::lock_guard lock(mutex);
      reported.push_back(file);
      changed.notify_all();
    }, std::chrono::milliseconds(50));
    fs::copy_file(build("v1"), dir / "swapkit.so.tmp");
    fs::rename(dir / "swapkit.so.tmp", dir / "swapkit.so");
    std::unique_lock lock(mutex);
    changed.wait_for(lock, std::chrono::seconds(10), [&] {
      return std::find(reported.begin(), reported.end(), dir / "swapkit.so") != reported.end();
    });
  }
  CHECK(std::count(reported.begin(), reported.end(), dir / "swapkit.so") == 1);
  fs::remove_all(dir);
}

}  // namespace module_swap_test
