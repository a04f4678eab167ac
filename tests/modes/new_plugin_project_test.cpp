// `posthog-plugin-server new`: what it writes for a name, and the names it
// refuses. (tests/packaging builds what it writes and runs its tests.)
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "modes/new_plugin_project.hpp"

namespace new_plugin_project_test {

using posthog::server::plugin_project_files;

TEST_CASE("new: a project named after the plugin, its class and files derived from the name", "[new]") {
  auto const files = plugin_project_files("page-timer2");
  for (auto const* path : {"CMakeLists.txt", "plugin.json", "src/page_timer2.hpp", "src/page_timer2.cpp",
                           "test/page_timer2_test.cpp", "server.json", "example-events.jsonl", "README.md"})
    CHECK(files.count(path) == 1);
  CHECK(files.at("src/page_timer2.hpp").find("class PageTimer2 {") != std::string::npos);
  CHECK(files.at("src/page_timer2.cpp").find("POSTHOG_PLUGIN(PageTimer2)") != std::string::npos);
  CHECK(files.at("plugin.json").find("\"name\": \"page-timer2\"") != std::string::npos);
  CHECK(files.at("CMakeLists.txt").find("posthog_add_plugin(page-timer2 SOURCES src/page_timer2.cpp") !=
        std::string::npos);
  CHECK(files.at("CMakeLists.txt").find("find_package(posthog_plugin_sdk") != std::string::npos);
  CHECK(files.at("CMakeLists.txt").find("POSTHOG_SDK_SOURCE_DIR") != std::string::npos);
  for (auto const& [path, text] : files) {
    INFO(path);
    CHECK(text.find('@') == std::string::npos);  // every marker filled in
  }
}

TEST_CASE("new: names that could not name a module, a target and a chain entry alike are refused", "[new]") {
  for (auto const* name : {"", "Upper", "9lives", "under_score", "trailing-", "sp ace", "dot.ted", "../up"}) {
    INFO(name);
    CHECK_THROWS_AS(plugin_project_files(name), std::invalid_argument);
  }
  CHECK_THROWS_AS(plugin_project_files(std::string(65, 'a')), std::invalid_argument);
  CHECK_NOTHROW(plugin_project_files(std::string(64, 'a')));
}

TEST_CASE("new: a folder that holds anything is left alone", "[new]") {
  auto const dir = std::filesystem::temp_directory_path() / ("posthog-new-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "mine.txt") << "keep me";
  CHECK(posthog::server::write_plugin_project("kept-out", dir) == 1);
  CHECK_FALSE(std::filesystem::exists(dir / "CMakeLists.txt"));
  std::filesystem::remove(dir / "mine.txt");
  CHECK(posthog::server::write_plugin_project("kept-out", dir) == 0);
  CHECK(std::filesystem::exists(dir / "src" / "kept_out.hpp"));
  std::filesystem::remove_all(dir);
}

}  // namespace new_plugin_project_test
