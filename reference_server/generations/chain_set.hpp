// ChainSet: everything the workers need to route an event, built from the
// server config and then immutable: each team's PluginChain, the token → team
// table, the team specs the chains came from, and (through the chains) the team
// copies, instances and modules.
//
// Building it loads each module once, runs setup_instance once per module and
// setup_team once per (team, plugin). A refused module, instance or team copy
// is reported and left out; everything else runs. Changing one team
// (with_team) makes a new set that shares every other team's chain and every
// instance with the old one: only that team's copies are set up again, and
// LiveChains publishes the result with one pointer swap.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/server_config.hpp"
#include "config/team_document.hpp"
#include "common/load_error.hpp"
#include "host/plugin_instance.hpp"
#include "plugin_chain.hpp"

namespace posthog::server {

class ModuleRegistry;

// A team copy of a new module version that could not be set up: the load error
// (team_config naming the field, or setup_team) and the team it happened for.
class TeamCopyError : public LoadError {
 public:
  TeamCopyError(const LoadError& e, std::int64_t team_id) : LoadError(e), team_id_(team_id) {}
  std::int64_t team_id() const noexcept { return team_id_; }

 private:
  std::int64_t team_id_;
};

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
  const TeamSpec* team(std::int64_t team_id) const noexcept {
    auto it = teams_.find(team_id);
    return it == teams_.end() ? nullptr : &it->second;
  }
  const std::map<std::int64_t, TeamSpec>& teams() const noexcept { return teams_; }
  const std::unordered_map<std::string, std::int64_t>& tokens() const noexcept { return tokens_; }
  const std::vector<std::shared_ptr<PluginInstance>>& instances() const noexcept { return instances_; }
  std::shared_ptr<PluginInstance> instance(const std::string& plugin) const;
  std::size_t team_count() const noexcept { return chains_.size(); }

  // Builds from the config; every refusal is appended to `refusals` (and to the log).
  static std::shared_ptr<const ChainSet> build(const ServerConfig& config, ModuleRegistry& modules,
                                               HostServices& services, std::vector<LoadError>& refusals);

  // `base` with one team added or replaced, all or nothing: an unknown plugin,
  // a config the plugin's schema refuses, a setup_team that throws or a token
  // another team owns throws TeamDocumentError (naming the field) and changes nothing.
  static std::shared_ptr<const ChainSet> with_team(const ChainSet& base, const TeamSpec& spec,
                                                   HostServices& services);
  // `base` with `instance` (a new version of a module, or an older one rolled
  // back to) in place of the instance of the same name. Every team whose chain
  // has that plugin enabled gets a copy set up from it, keeping its other
  // copies; the first refusal throws TeamCopyError and nothing changes. Other
  // teams' chains are shared.
  static std::shared_ptr<const ChainSet> with_instance(const ChainSet& base, std::shared_ptr<PluginInstance> instance,
                                                       HostServices& services);
  // `base` with `copy` (a team copy whose set-up was retried and succeeded)
  // put in its place in its team's chain; every other copy shared.
  static std::shared_ptr<const ChainSet> with_copy(const ChainSet& base, std::shared_ptr<TeamPlugin> copy,
                                                   HostServices& services);
  // `base` without that team (its events get 401 from then on).
  static std::shared_ptr<const ChainSet> without_team(const ChainSet& base, std::int64_t team_id);

 private:
  std::unordered_map<std::int64_t, PluginChain> chains_;
  std::unordered_map<std::string, std::int64_t> tokens_;
  std::map<std::int64_t, TeamSpec> teams_;
  std::vector<std::shared_ptr<PluginInstance>> instances_;
};

}  // namespace posthog::server
