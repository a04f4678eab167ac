// HotSwap: what a running server needs to swap plugin modules: the versions
// serving, the swap itself, and its triggers (the plugins folders watched with
// inotify, SIGHUP through reload_changed(), the admin API through swap()).
// Every result is written as a `swap` diagnostic line.
//
//   HotSwap hot_swap(config, host, err);     // after host.build(config)
//   hot_swap.reload_changed("SIGHUP");
#pragma once

#include <memory>
#include <string_view>

#include "config/server_config.hpp"
#include "generations/module_swap.hpp"
#include "loader/plugin_dir_watch.hpp"
#include "generations/plugin_versions.hpp"
#include "embedded_plugin_host.hpp"

namespace posthog::server {

class FdWriter;

class HotSwap {
 public:
  // Watches the plugin files' folders when config.watch_plugins is set; a
  // folder that cannot be watched is reported, and the other triggers work.
  HotSwap(const ServerConfig& config, EmbeddedPluginHost& host, FdWriter& err);
  ~HotSwap();

  void reload_changed(std::string_view trigger);
  ModuleSwap& swap() noexcept { return swap_; }
  PluginVersions& versions() noexcept { return versions_; }
  bool watching() const noexcept { return watch_ != nullptr; }
  // Stops the folder watch (its thread may start swaps, which run plugin hooks).
  void stop_watching() { watch_.reset(); }

  // Appends the swap gauges and counters in Prometheus text.
  void render_metrics(std::string& out, const LiveChains& chains) const;

 private:
  void report(const SwapResult& result);

  FdWriter& err_;
  PluginVersions versions_;
  ModuleSwap swap_;
  std::unique_ptr<PluginDirWatch> watch_;  // last: its thread uses the rest
};

}  // namespace posthog::server
