// EmbeddedPluginHost: what every mode sets up before serving anything, on the
// embedded (in-memory) stores: the services plugins reach through `meta`, the
// loaded modules, and the chains built from the config, with every refusal.
//
//   EmbeddedPluginHost host(3);
//   host.build(config);                 // load modules, instances, team copies
//   report_load_errors(err, host.refusals);
//   ChainWorker worker(*host.chains, host.log);
#pragma once

#include <memory>
#include <vector>

#include "../config/server_config.hpp"
#include "../loader/load_error.hpp"
#include "../loader/plugin_module.hpp"
#include "../pipeline/chain_set.hpp"
#include "../pipeline/chain_worker.hpp"
#include "../stores/memory_cache.hpp"
#include "../stores/plugin_log.hpp"
#include "../stores/plugin_storage.hpp"

namespace posthog::server {

struct EmbeddedPluginHost {
  explicit EmbeddedPluginHost(int max_capture_depth) : capture(max_capture_depth) {}
  EmbeddedPluginHost(const EmbeddedPluginHost&) = delete;
  EmbeddedPluginHost& operator=(const EmbeddedPluginHost&) = delete;

  void build(const ServerConfig& config) { chains = ChainSet::build(config, modules, services, refusals); }

  MemoryCache cache;
  MemoryStorage storage;
  PluginLog log;
  WorkerCapture capture;
  HostServices services{&cache, &storage, &log, &capture};
  ModuleRegistry modules;
  std::vector<LoadError> refusals;
  std::shared_ptr<const ChainSet> chains;
};

// Worker threads: the number asked for, else one per core.
unsigned worker_count(unsigned requested);

}  // namespace posthog::server
