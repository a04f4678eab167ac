// ModuleSwap: replaces a plugin's module on a running server, whatever asked
// for it (the plugins directory watch, SIGHUP, the admin API), one at a time.
//
// A swap, each step refusing with the step's name and leaving the running
// version serving:
//   1. copy the file to a private image and hash it; the same bytes as the
//      version serving is no swap at all;
//   2. load it: ELF, descriptor (ABI and build fingerprint), dlopen, entry
//      symbols, embedded plugin.json; its name must be the plugin's;
//   3. setup_instance with the plugin's settings;
//   4. a team copy for every team that uses the plugin: its config checked
//      against the new schema, then setup_team (ChainSet::with_instance);
//   5. publish the new set (one generation) through LiveChains;
//   6. wait until nothing holds the old instance (no set, pinned by a batch or
//      not, still has it), so that when swap_in returns no event can still be
//      processed by the old version; the old team copies and instance are torn
//      down by whoever let go of them last.
// Modules are never unmapped (see plugin_module.hpp); the count of mapped
// images is bounded by max_mapped_images.
//
//   ModuleSwap swap(config.plugins, live, services, versions);
//   auto result = swap.swap_in("geoip", "admin");   // from the configured file
//   if (result.outcome == SwapResult::Outcome::refused) ... result.refusal->step
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/server_config.hpp"
#include "live_chains.hpp"
#include "common/load_error.hpp"
#include "host/plugin_scope.hpp"
#include "plugin_versions.hpp"

namespace posthog::server {

struct SwapResult {
  enum class Outcome { swapped, unchanged, refused };
  Outcome outcome = Outcome::refused;
  std::string plugin;
  std::string from_version;
  std::string to_version;
  std::uint64_t generation = 0;  // of the set published
  double drain_ms = 0;           // until nothing held the old instance
  bool drained = true;           // false: the old instance was still in use at the deadline
  std::optional<SwapAttempt> refusal;

  const char* outcome_name() const noexcept;
  boost::json::object to_json() const;
};

struct ModuleSwapOptions {
  std::chrono::milliseconds drain_deadline{10'000};
  std::uint64_t max_mapped_images = 1000;
};

class ModuleSwap {
 public:
  ModuleSwap(std::vector<PluginSpec> plugins, LiveChains& chains, HostServices& services, PluginVersions& versions,
             ModuleSwapOptions options = {});

  // Records the versions the first set serves and the startup refusals.
  void record_startup(const std::vector<LoadError>& refusals);

  // Swaps `plugin` to the module in `file` (default: the plugin's configured
  // file). With only_if_changed (the folder watch, SIGHUP), a file whose bytes
  // were already looked at is left alone, so a rollback is not undone by the
  // next event about a file that did not change, and a refused build is not
  // tried again and again; the admin API's reload asks for the file as it is.
  SwapResult swap_in(const std::string& plugin, std::string_view trigger, std::filesystem::path file = {},
                     bool only_if_changed = false);
  // Back to the version that served before this one (a new instance of it).
  SwapResult roll_back(const std::string& plugin, std::string_view trigger = "rollback");
  // Every plugin whose configured file changed since it was loaded (SIGHUP).
  std::vector<SwapResult> swap_changed(std::string_view trigger);

  // Called after every successful swap or rollback, with the module now
  // serving (serve mode tells the other servers of a cluster). Set before swaps.
  using SwapListener = std::function<void(const std::string& plugin, const PluginModule& serving, std::string_view trigger)>;
  void on_swapped(SwapListener listener) { listener_ = std::move(listener); }

  // The configured plugin whose file is `file` (compared by folder and name).
  const PluginSpec* plugin_for_file(const std::filesystem::path& file) const;
  const std::vector<PluginSpec>& plugins() const noexcept { return plugins_; }

 private:
  const PluginSpec* spec(const std::string& plugin) const;
  SwapResult publish(const PluginSpec& spec, std::shared_ptr<PluginModule> module, std::string_view trigger);
  SwapResult refuse(SwapResult result, SwapAttempt attempt);

  std::vector<PluginSpec> plugins_;
  LiveChains& chains_;
  HostServices& services_;
  PluginVersions& versions_;
  ModuleSwapOptions options_;
  std::mutex mutex_;  // one swap at a time
  std::map<std::string, std::string> seen_hash_;  // per plugin: the bytes last looked at
  SwapListener listener_;
};

}  // namespace posthog::server
