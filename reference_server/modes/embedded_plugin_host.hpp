// EmbeddedPluginHost: what every mode sets up before serving anything, on the
// embedded (in-memory) stores: the services plugins reach through `meta`, the
// loaded modules, and the chains built from the config, with every refusal.
//
//   EmbeddedPluginHost host(3);
//   host.build(config);                 // load modules, instances, team copies
//   report_load_errors(err, host.refusals);
//   ChainWorker worker(host.chains, host.log);
#pragma once

#include <memory>
#include <vector>

#include "config/server_config.hpp"
#include "health/team_plugin_states.hpp"
#include "common/load_error.hpp"
#include "loader/plugin_module.hpp"
#include "generations/chain_set.hpp"
#include "pipeline/chain_worker.hpp"
#include "generations/live_chains.hpp"
#include "stores/memory_cache.hpp"
#include "common/plugin_log.hpp"
#include "stores/plugin_storage.hpp"

namespace posthog::server {

struct EmbeddedPluginHost {
  // cache_max_bytes 0: an unbounded cache (process and check modes).
  explicit EmbeddedPluginHost(int max_capture_depth, std::size_t cache_max_bytes = 0, HealthPolicy health = {})
      : cache(cache_max_bytes), capture(max_capture_depth), states(health) {
    // Health changes land in the plugin's own log, where its errors are.
    states.observe([this](const TeamPluginState& s, const HealthTransition& t) { log_transition(log, s, t); });
  }
  EmbeddedPluginHost(const EmbeddedPluginHost&) = delete;
  EmbeddedPluginHost& operator=(const EmbeddedPluginHost&) = delete;

  void build(const ServerConfig& config) { chains.publish(ChainSet::build(config, modules, services, refusals)); }

  MemoryCache cache;
  MemoryStorage storage;
  PluginLog log;
  WorkerCapture capture;
  TeamPluginStates states;
  HostServices services{&cache, &storage, &log, &capture, nullptr, nullptr, &states};  // serve mode swaps in its stores
  ModuleRegistry modules{host_api()};
  std::vector<LoadError> refusals;
  LiveChains chains;
};

// Worker threads: the number asked for, else one per core.
unsigned worker_count(unsigned requested);

}  // namespace posthog::server
