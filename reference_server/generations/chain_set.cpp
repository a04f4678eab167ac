#include "chain_set.hpp"

#include <algorithm>

#include "loader/plugin_module.hpp"
#include "metrics/pipeline_metrics.hpp"
#include "setup_retries.hpp"
#include "common/plugin_log.hpp"

#include <stdexcept>

namespace posthog::server {

std::shared_ptr<PluginInstance> ChainSet::instance(const std::string& plugin) const {
  for (auto const& i : instances_)
    if (i->module().name() == plugin) return i;
  return nullptr;
}

std::shared_ptr<const ChainSet> ChainSet::build(const ServerConfig& config, ModuleRegistry& modules,
                                                HostServices& services, std::vector<LoadError>& refusals) {
  auto set = std::make_shared<ChainSet>();
  auto refuse = [&](LoadError e, std::int64_t team_id, const std::string& plugin, const char* hook) {
    if (services.log) services.log->error({team_id, plugin, hook, to_string(e.step()), e.what(), {}, {}, {}});
    refusals.push_back(std::move(e));
  };

  for (auto const& spec : config.plugins) {
    try {
      auto module = modules.load(spec.file);
      if (module->name() != spec.name)
        throw LoadError(spec.file.string(), LoadStep::manifest,
                        {"the config calls this plugin '" + spec.name + "' but its manifest says '" + module->name() +
                         "'"});
      auto instance = PluginInstance::create(module, spec.settings, services.log, services.states);
      if (services.metrics) instance->set_metrics_slot(services.metrics->plugin_slot(spec.name));
      set->instances_.push_back(std::move(instance));
    } catch (LoadError& e) {
      refuse(std::move(e), 0, spec.name, "load");
    }
  }

  for (auto const& team : config.teams) {
    std::vector<std::shared_ptr<TeamPlugin>> copies;
    std::vector<std::string> awaiting;
    for (auto const& p : team.plugins) {
      if (!p.enabled) continue;
      auto instance = set->instance(p.name);
      if (!instance) continue;  // its module was refused: reported above
      try {
        copies.push_back(TeamPlugin::create(std::move(instance), team.id, p.config, services));
      } catch (LoadError& e) {
        if (e.step() != LoadStep::setup_team || !services.setup_retries) {
          refuse(std::move(e), team.id, p.name, "setup_team");
          continue;
        }
        // Set up again later, as PostHog did; the team runs without it meanwhile.
        std::string const message = e.details().empty() ? e.what() : e.details().front();
        if (services.log) services.log->error({team.id, p.name, "setup_team", to_string(e.step()), message, {}, {}, {}});
        services.setup_retries->failed(team.id, p.name, message);
        awaiting.push_back(p.name);
      }
    }
    set->chains_.emplace(team.id, PluginChain(team.id, std::move(copies),
                                              services.metrics ? services.metrics->team(team.id) : nullptr,
                                              std::move(awaiting)));
    set->teams_[team.id] = team;
    if (!team.token.empty()) set->tokens_.emplace(team.token, team.id);
  }
  return set;
}

std::shared_ptr<const ChainSet> ChainSet::with_team(const ChainSet& base, const TeamSpec& spec,
                                                    HostServices& services) {
  if (spec.token.empty()) throw TeamDocumentError("token", "a team needs a project token (like phc_...)");
  if (auto owner = base.team_for_token(spec.token); owner && *owner != spec.id)
    throw TeamDocumentError("token", "token '" + spec.token + "' belongs to team " + std::to_string(*owner));

  // The new copies are set up before anything is published: a refusal leaves
  // the running chain as it was. Their teardown (on refusal) happens here.
  std::vector<std::shared_ptr<TeamPlugin>> copies;
  for (std::size_t i = 0; i < spec.plugins.size(); ++i) {
    auto const& p = spec.plugins[i];
    std::string const at = "plugins[" + std::to_string(i) + "]";
    for (std::size_t j = 0; j < i; ++j)
      if (spec.plugins[j].name == p.name)
        throw TeamDocumentError(at + ".name", "plugin '" + p.name + "' is already in this chain at plugins[" +
                                                std::to_string(j) + "]");
    auto instance = base.instance(p.name);
    if (!instance) throw TeamDocumentError(at + ".name", "no loaded plugin is called '" + p.name + "'");
    if (!p.enabled) continue;
    try {
      copies.push_back(TeamPlugin::create(std::move(instance), spec.id, p.config, services));
    } catch (const LoadError& e) {
      std::string message = e.what();
      if (!e.details().empty()) message = e.details().front();
      bool const config = e.step() == LoadStep::team_config;
      throw TeamDocumentError(config ? (e.field().empty() ? at + ".config" : at + ".config." + e.field()) : at, message);
    }
  }

  auto set = std::make_shared<ChainSet>(base);
  set->chains_.erase(spec.id);
  set->chains_.emplace(spec.id, PluginChain(spec.id, std::move(copies),
                                            services.metrics ? services.metrics->team(spec.id) : nullptr));
  if (auto old = base.teams_.find(spec.id); old != base.teams_.end()) set->tokens_.erase(old->second.token);
  set->tokens_[spec.token] = spec.id;
  set->teams_[spec.id] = spec;
  return set;
}

std::shared_ptr<const ChainSet> ChainSet::with_instance(const ChainSet& base,
                                                        std::shared_ptr<PluginInstance> instance,
                                                        HostServices& services) {
  std::string const& name = instance->module().name();
  auto set = std::make_shared<ChainSet>(base);
  bool replaced = false;
  for (auto& i : set->instances_)
    if (i->module().name() == name) i = instance, replaced = true;
  if (!replaced) set->instances_.push_back(instance);  // its first good version

  for (auto const& [team_id, spec] : base.teams_) {
    bool const uses = std::any_of(spec.plugins.begin(), spec.plugins.end(),
                                  [&](const TeamPluginSpec& p) { return p.enabled && p.name == name; });
    if (!uses) continue;
    auto const* old = base.chain(team_id);
    std::vector<std::shared_ptr<TeamPlugin>> copies;
    std::vector<std::string> awaiting;
    if (old)
      for (auto const& a : old->awaiting_setup())
        if (a != name) awaiting.push_back(a);
    bool const was_awaiting = old && std::find(old->awaiting_setup().begin(), old->awaiting_setup().end(), name) !=
                                         old->awaiting_setup().end();
    for (auto const& p : spec.plugins) {
      if (!p.enabled) continue;
      if (p.name == name) {
        try {
          copies.push_back(TeamPlugin::create(instance, team_id, p.config, services));
        } catch (const LoadError& e) {
          // A team whose copy was still waiting for a set-up keeps waiting (one
          // more failed attempt); one that was running refuses the new version.
          if (!was_awaiting || e.step() != LoadStep::setup_team || !services.setup_retries)
            throw TeamCopyError(e, team_id);
          std::string const message = e.details().empty() ? e.what() : e.details().front();
          if (services.log) services.log->error({team_id, name, "setup_team", to_string(e.step()), message, {}, {}, {}});
          services.setup_retries->failed(team_id, name, message);
          awaiting.push_back(name);
        }
        continue;
      }
      // Other plugins keep their running copy (none if it was refused).
      if (!old) continue;
      for (auto const& copy : old->plugins())
        if (copy->name() == p.name) copies.push_back(copy);
    }
    set->chains_.erase(team_id);
    set->chains_.emplace(team_id, PluginChain(team_id, std::move(copies),
                                              old ? old->counters()
                                                  : (services.metrics ? services.metrics->team(team_id) : nullptr),
                                              std::move(awaiting)));
  }
  return set;
}

std::shared_ptr<const ChainSet> ChainSet::with_copy(const ChainSet& base, std::shared_ptr<TeamPlugin> copy,
                                                    HostServices& services) {
  auto const team_id = copy->team_id();
  auto const* spec = base.team(team_id);
  auto const* old = base.chain(team_id);
  if (!spec || !old) throw std::logic_error("with_copy: team " + std::to_string(team_id) + " has no chain");
  std::vector<std::shared_ptr<TeamPlugin>> copies;
  for (auto const& p : spec->plugins) {
    if (!p.enabled) continue;
    if (p.name == copy->name()) {
      copies.push_back(copy);
      continue;
    }
    for (auto const& c : old->plugins())
      if (c->name() == p.name) copies.push_back(c);
  }
  std::vector<std::string> awaiting;
  for (auto const& a : old->awaiting_setup())
    if (a != copy->name()) awaiting.push_back(a);
  auto set = std::make_shared<ChainSet>(base);
  auto* counters = old->counters() ? old->counters() : (services.metrics ? services.metrics->team(team_id) : nullptr);
  set->chains_.erase(team_id);
  set->chains_.emplace(team_id, PluginChain(team_id, std::move(copies), counters, std::move(awaiting)));
  return set;
}

std::shared_ptr<const ChainSet> ChainSet::without_team(const ChainSet& base, std::int64_t team_id) {
  auto set = std::make_shared<ChainSet>(base);
  set->chains_.erase(team_id);
  if (auto old = base.teams_.find(team_id); old != base.teams_.end()) set->tokens_.erase(old->second.token);
  set->teams_.erase(team_id);
  return set;
}

}  // namespace posthog::server
