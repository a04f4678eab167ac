#include "plugin_project_templates.hpp"

namespace posthog::server {
namespace {

constexpr std::string_view cmake_lists = R"file(# @NAME@: a PostHog plugin for posthog-native-plugins' server, built with
# its header-only SDK, found either way:
#
#   cmake -S . -B build -DCMAKE_PREFIX_PATH=/usr/local                        # an installed SDK
#   cmake -S . -B build -DPOSTHOG_SDK_SOURCE_DIR=/path/to/posthog-native-plugins  # a source checkout
cmake_minimum_required(VERSION 3.21)
project(@FILE@_plugin LANGUAGES CXX)

set(POSTHOG_SDK_SOURCE_DIR "" CACHE PATH "a posthog-native-plugins checkout to use instead of an installed SDK")
set(POSTHOG_PLUGIN_SERVER "" CACHE FILEPATH "posthog-plugin-server: the test also runs the built plugin through it")

if(POSTHOG_SDK_SOURCE_DIR)
  add_subdirectory(${POSTHOG_SDK_SOURCE_DIR} posthog_sdk EXCLUDE_FROM_ALL)
else()
  find_package(posthog_plugin_sdk 0.1 CONFIG REQUIRED)
endif()

# The plugin: build/@NAME@.so, with plugin.json embedded in it.
posthog_add_plugin(@NAME@ SOURCES src/@FILE@.cpp MANIFEST plugin.json)

# Its test: the class in-process on the SDK's harness, then the built module
# through the real server when POSTHOG_PLUGIN_SERVER names one.
enable_testing()
find_package(Catch2 REQUIRED)
add_executable(@FILE@_test test/@FILE@_test.cpp)
target_include_directories(@FILE@_test PRIVATE src)
target_link_libraries(@FILE@_test PRIVATE posthog::plugin_sdk @NAME@_manifest)
if(TARGET Catch2::Catch2WithMain)
  target_link_libraries(@FILE@_test PRIVATE Catch2::Catch2WithMain)  # Catch2 3
else()
  target_link_libraries(@FILE@_test PRIVATE Catch2::Catch2)  # Catch2 2: the test file brings main()
endif()
target_compile_features(@FILE@_test PRIVATE cxx_std_20)
target_compile_definitions(@FILE@_test PRIVATE
  PLUGIN_MODULE="$<TARGET_FILE:@NAME@>" POSTHOG_PLUGIN_SERVER="${POSTHOG_PLUGIN_SERVER}")
add_dependencies(@FILE@_test @NAME@)
add_test(NAME @FILE@_test COMMAND @FILE@_test)
)file";

constexpr std::string_view manifest = R"file({
  "name": "@NAME@",
  "version": "0.1.0",
  "description": "Adds a greeting to every event of the teams that run it.",
  "config": [
    {
      "key": "greeting",
      "name": "Greeting",
      "type": "string",
      "default": "Hello from @NAME@",
      "hint": "Written into each event's `greeting` property."
    }
  ]
}
)file";

constexpr std::string_view plugin_class = R"file(// @CLASS@: the plugin @NAME@. The server makes one copy of this class per
// team that runs the plugin, from that team's config (checked against
// plugin.json first), and calls process_event for each of the team's events.
// Calls may come from several threads at once: what a copy writes after it is
// made belongs in meta (cache, storage) or behind a lock of your own.
#pragma once

#include <posthog/plugin.hpp>

#include <string>

class @CLASS@ {
 public:
  explicit @CLASS@(posthog::TeamContext& team) : greeting_(team.config.string("greeting")) {}

  // Each event of the team, in the order of the team's chain: change it in
  // place, or return false to drop it.
  bool process_event(posthog::Event& event, posthog::Meta& /*meta*/) {
    event.properties()["greeting"] = greeting_;
    return true;
  }

 private:
  std::string greeting_;
};
)file";

constexpr std::string_view plugin_source = R"file(// The module's entry points: POSTHOG_PLUGIN makes @CLASS@ a module the server loads.
#include "@FILE@.hpp"

POSTHOG_PLUGIN(@CLASS@)
)file";

constexpr std::string_view plugin_test = R"file(// @NAME@'s tests: the class in-process on the SDK's harness (the team's
// config checked against plugin.json first, as the server does), then, when
// the build names a server (POSTHOG_PLUGIN_SERVER), the built module through it.
#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_test_macros.hpp>  // Catch2 3: main() comes with Catch2::Catch2WithMain
#else
#define CATCH_CONFIG_MAIN  // Catch2 2: its one header brings main()
#include <catch2/catch.hpp>
#endif

#include <posthog/testing.hpp>

#include <string>

#include "@FILE@.hpp"

using posthog::testing::make_event;
using posthog::testing::PluginHarness;

TEST_CASE("process_event writes the team's greeting into the event") {
  PluginHarness<@CLASS@> plugin({{"greeting", "hi"}});
  auto const out = plugin.process_event(make_event("$pageview"));
  REQUIRE(out);
  CHECK(out->at("properties").at("greeting") == "hi");
}

TEST_CASE("a team that sets no greeting gets the default of plugin.json") {
  PluginHarness<@CLASS@> plugin;
  auto const out = plugin.process_event(make_event("$pageview"));
  REQUIRE(out);
  CHECK(out->at("properties").at("greeting") == "Hello from @NAME@");
}

TEST_CASE("the built module runs through the server") {
  std::string const server = POSTHOG_PLUGIN_SERVER;
  if (server.empty()) return;  // configure with -DPOSTHOG_PLUGIN_SERVER=... to run this one
  boost::json::array chain{boost::json::object{{"name", "@NAME@"}}};
  boost::json::object config{
      {"plugins", boost::json::array{boost::json::object{{"name", "@NAME@"}, {"file", PLUGIN_MODULE}}}},
      {"teams", boost::json::array{boost::json::object{{"id", 1}, {"plugins", chain}}}}};
  auto const run = posthog::testing::run_process_mode(
      server, config, {R"({"event": "signed up", "distinct_id": "alice", "team_id": 1})"});
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.events.size() == 1);
  CHECK(run.events[0].at("properties").at("greeting") == "Hello from @NAME@");
}
)file";

constexpr std::string_view server_config = R"file({
  "plugins": [{"name": "@NAME@", "file": "build/@NAME@.so"}],
  "teams": [
    {"id": 1, "token": "phc_try_@FILE@", "plugins": [{"name": "@NAME@", "config": {"greeting": "Hello from team 1"}}]}
  ]
}
)file";

constexpr std::string_view example_events = R"file({"event": "signed up", "distinct_id": "alice", "api_key": "phc_try_@FILE@", "properties": {"plan": "free"}}
{"event": "$pageview", "distinct_id": "bob", "api_key": "phc_try_@FILE@", "properties": {"$current_url": "https://example.com/"}}
)file";

constexpr std::string_view readme = R"file(# @NAME@

A PostHog plugin for the posthog-native-plugins server, in C++20 with the
project's header-only SDK. `src/@FILE@.hpp` is the plugin, `plugin.json` its
manifest (its name, its version, and the config each team fills in), and
`test/@FILE@_test.cpp` its tests.

## Build, test, run

```sh
cmake -S . -B build -DCMAKE_PREFIX_PATH=/usr/local && cmake --build build   # build: build/@NAME@.so
ctest --test-dir build --output-on-failure                                # test
posthog-plugin-server process --config server.json < example-events.jsonl  # run it through the server
```

- **Build.** `CMAKE_PREFIX_PATH` is where the SDK is installed (`cmake --install`
  of posthog-native-plugins puts it under `/usr/local` by default). To build
  against a source checkout instead, give `-DPOSTHOG_SDK_SOURCE_DIR=/path/to/posthog-native-plugins`.
  The test needs Catch2 (version 2 or 3) where CMake can find it.
- **Test.** The tests run the class in-process on the SDK's harness. Configure
  with `-DPOSTHOG_PLUGIN_SERVER=/path/to/posthog-plugin-server` as well and they
  also run the built module through the real server.
- **Run.** Process mode reads events as JSON lines and prints each one after
  the chain of its team (`server.json`: team 1 runs this plugin with its own
  greeting). `posthog-plugin-server serve --config server.json` serves
  PostHog's capture API with it instead (see the server's README).

## Next

- Each config field of `plugin.json` (`string`, `json`, `choice` or
  `attachment`; `required`, `default`, `secret`, a markdown `hint`) is read
  with `team.config` in the constructor.
- More hooks: `on_event`, `export_events`, `run_every_minute` / `_hour` /
  `_day`, jobs, declared metrics. `posthog/plugin.hpp` lists them with the
  rules on threads.
)file";

constexpr std::string_view git_ignore = "build/\n";

constexpr ProjectTemplate templates[] = {
    {"CMakeLists.txt", cmake_lists},
    {"plugin.json", manifest},
    {"src/@FILE@.hpp", plugin_class},
    {"src/@FILE@.cpp", plugin_source},
    {"test/@FILE@_test.cpp", plugin_test},
    {"server.json", server_config},
    {"example-events.jsonl", example_events},
    {"README.md", readme},
    {".gitignore", git_ignore},
};

}  // namespace

std::span<const ProjectTemplate> plugin_project_templates() noexcept { return templates; }

}  // namespace posthog::server
