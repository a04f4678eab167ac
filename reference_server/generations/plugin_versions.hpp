// PluginVersions: for each plugin, the version serving now, the one before it
// (what a rollback goes back to), the versions that served in turn (the swap
// history) and the swap attempts that were refused: what the admin API shows
// and /metrics counts.
//
// A refused attempt names the file, the step it stopped at, and for a team
// copy the team and the config field, so an author can tell "my build is for
// another ABI" from "team 7's config lacks the new required key".
#pragma once

#include <boost/json/array.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "loader/plugin_module.hpp"

namespace posthog::server {

struct SwapAttempt {
  std::string plugin;
  std::string file;
  std::string trigger;  // startup, inotify, SIGHUP, admin, rollback
  std::string step;     // a LoadStep, or "name" for a module of another name
  std::string message;
  std::string field;                   // config field at fault, if any
  std::optional<std::int64_t> team_id; // the team whose copy was refused, if any
  std::string content_hash;
  std::chrono::system_clock::time_point at;
};

// One version that began serving: at start, by a swap or by a rollback.
struct ServedVersion {
  std::string version;
  std::string content_hash;
  std::string file;
  std::string trigger;  // startup, inotify, SIGHUP, admin, rollback, cluster
  std::uint64_t generation = 0;
  double drain_ms = 0;  // how long the version it replaced took to drain
  std::chrono::system_clock::time_point at;
};

class PluginVersions {
 public:
  static constexpr std::size_t kept_failures = 20;  // per plugin, newest first
  static constexpr std::size_t kept_versions = 20;  // per plugin, newest first

  // `module` serves `plugin` from `generation` on; what served before becomes
  // the previous version. Returns the module replaced (null on the first).
  std::shared_ptr<PluginModule> serving(const std::string& plugin, std::shared_ptr<PluginModule> module,
                                        std::uint64_t generation, double drain_ms = 0,
                                        std::string_view trigger = "startup");
  void refused(SwapAttempt attempt);

  std::shared_ptr<PluginModule> current(const std::string& plugin) const;
  std::shared_ptr<PluginModule> previous(const std::string& plugin) const;

  std::uint64_t swaps() const;
  std::uint64_t refusals() const;
  std::map<std::string, std::uint64_t> refusals_by_step() const;

  // [{"plugin", "serving": {...}, "previous": {...}, "swaps", "history": [...], "failed": [...]}]
  boost::json::array to_json() const;
  boost::json::object to_json(const std::string& plugin) const;

 private:
  struct Entry {
    std::shared_ptr<PluginModule> serving;
    std::uint64_t generation = 0;
    std::chrono::system_clock::time_point since;
    double last_drain_ms = 0;
    std::shared_ptr<PluginModule> previous;
    std::uint64_t swaps = 0;
    std::deque<SwapAttempt> failed;
    std::deque<ServedVersion> history;
  };
  boost::json::object entry_json(const std::string& plugin, const Entry& e) const;

  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::uint64_t swaps_ = 0;
  std::map<std::string, std::uint64_t> refusals_by_step_;
};

}  // namespace posthog::server
