// ChainSet: everything the workers need to route an event, built once from the
// server config and then immutable: each team's PluginChain, the token → team
// table, and (through the chains) the team copies, instances and modules.
//
// Building it loads each module once, runs setup_instance once per module and
// setup_team once per (team, plugin). A refused module, instance or team copy
// is reported and left out; everything else runs. Immutability is what lets hot
// swap (later) publish a new ChainSet with one atomic pointer store.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../config/server_config.hpp"
#include "../loader/load_error.hpp"
#include "../loader/plugin_instance.hpp"
#include "plugin_chain.hpp"

namespace posthog::server {

class ModuleRegistry;

class ChainSet {
 public:
  const PluginChain* chain(std::int64_t team_id) const noexcept {
    auto it = chains_.find(team_id);
    return it == chains_.end() ? nullptr : &it->second;
  }
  std::optional<std::int64_t> team_for_token(std::string_view token) const {
    auto it = tokens_.find(std::string(token));
    if (it == tokens_.end()) return std::nullopt;
    return it->second;
  }
  const std::vector<std::shared_ptr<PluginInstance>>& instances() const noexcept { return instances_; }
  std::size_t team_count() const noexcept { return chains_.size(); }

  // Builds from the config; every refusal is appended to `refusals` (and to the log).
  static std::shared_ptr<const ChainSet> build(const ServerConfig& config, ModuleRegistry& modules,
                                               HostServices& services, std::vector<LoadError>& refusals);

 private:
  std::unordered_map<std::int64_t, PluginChain> chains_;
  std::unordered_map<std::string, std::int64_t> tokens_;
  std::vector<std::shared_ptr<PluginInstance>> instances_;
};

}  // namespace posthog::server
