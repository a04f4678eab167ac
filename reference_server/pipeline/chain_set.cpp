#include "chain_set.hpp"

#include <map>

#include "../loader/plugin_module.hpp"
#include "../stores/plugin_log.hpp"

namespace posthog::server {

std::shared_ptr<const ChainSet> ChainSet::build(const ServerConfig& config, ModuleRegistry& modules,
                                                HostServices& services, std::vector<LoadError>& refusals) {
  auto set = std::make_shared<ChainSet>();
  auto refuse = [&](LoadError e, std::int64_t team_id, const std::string& plugin, const char* hook) {
    if (services.log) services.log->error({team_id, plugin, hook, to_string(e.step()), e.what(), {}, {}, {}});
    refusals.push_back(std::move(e));
  };

  std::map<std::string, std::shared_ptr<PluginInstance>> by_name;
  for (auto const& spec : config.plugins) {
    try {
      auto module = modules.load(spec.file);
      if (module->name() != spec.name)
        throw LoadError(spec.file.string(), LoadStep::manifest,
                        {"the config calls this plugin '" + spec.name + "' but its manifest says '" + module->name() +
                         "'"});
      auto instance = PluginInstance::create(module, spec.settings, services.log);
      by_name[spec.name] = instance;
      set->instances_.push_back(std::move(instance));
    } catch (LoadError& e) {
      refuse(std::move(e), 0, spec.name, "load");
    }
  }

  for (auto const& team : config.teams) {
    std::vector<std::shared_ptr<TeamPlugin>> copies;
    for (auto const& p : team.plugins) {
      if (!p.enabled) continue;
      auto it = by_name.find(p.name);
      if (it == by_name.end()) continue;  // its module was refused: reported above
      try {
        copies.push_back(TeamPlugin::create(it->second, team.id, p.config, services));
      } catch (LoadError& e) {
        refuse(std::move(e), team.id, p.name, "setup_team");
      }
    }
    set->chains_.emplace(team.id, PluginChain(team.id, std::move(copies)));
    if (!team.token.empty()) set->tokens_.emplace(team.token, team.id);
  }
  return set;
}

}  // namespace posthog::server
