// `posthog-plugin-server new NAME [DIR]`: a plugin author's first five
// minutes. Writes an out-of-tree plugin project into DIR (./NAME by default):
// a CMakeLists.txt that finds the SDK with find_package or takes a source
// checkout, a plugin.json with one config field, a class with process_event,
// a Catch2 test on the SDK's harness, a config that runs the plugin through
// this server, and a README with the commands to build, test and run it.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

namespace posthog::server {

// The project's files, by path inside it, for a plugin called `name`.
// Throws std::invalid_argument when the name cannot be a plugin's (the
// message says which names can).
std::map<std::string, std::string> plugin_project_files(std::string_view name);

// Writes them into `dir` (made if missing; refused if it holds anything).
// Returns the exit code and prints what it did, or why not, to the streams.
int write_plugin_project(std::string_view name, const std::filesystem::path& dir);

}  // namespace posthog::server
