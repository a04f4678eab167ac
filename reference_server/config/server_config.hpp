// ServerConfig: the installation file, which plugins exist and how each team
// uses them. The format (documented in the README):
//
//   {
//     "plugins_dir": "build/plugins",                    // relative to this file
//     "workers": 0,                                      // 0: one per core
//     "watch_plugins": true,                             // hot swap on a new .so
//     "plugins": [{"name": "helloworld", "settings": {}, "file": "optional/path.so"}],
//                                                        // ${config_dir} in settings: this file's folder
//     "teams": [{"id": 1, "token": "phc_team_1",
//                "plugins": [{"name": "helloworld", "enabled": true, "config": {"bar": "baz"}}]}]
//   }
//
// A team's plugins array order is its chain order. Errors name the JSON path.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace posthog::server {

class ConfigFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PluginSpec {
  std::string name;
  std::filesystem::path file;  // resolved: "file", else <plugins_dir>/<name>.so
  boost::json::object settings;
};

struct TeamPluginSpec {
  std::string name;
  bool enabled = true;
  boost::json::object config;
};

struct TeamSpec {
  std::int64_t id = 0;
  std::string token;
  std::vector<TeamPluginSpec> plugins;
};

struct ServerConfig {
  std::filesystem::path base_dir;  // the config file's folder
  std::filesystem::path plugins_dir;
  unsigned workers = 0;
  bool watch_plugins = true;  // swap a plugin when its file is replaced (inotify)
  std::vector<PluginSpec> plugins;
  std::vector<TeamSpec> teams;
  boost::json::object serve;  // the "serve" section, read by ServeSettings

  // Throws ConfigFileError naming the file and the JSON path at fault.
  static ServerConfig load(const std::filesystem::path& file);
  static ServerConfig parse(std::string_view json_text, const std::filesystem::path& base_dir,
                            const std::string& source_name = "config");
};

}  // namespace posthog::server
