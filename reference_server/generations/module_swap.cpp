#include "module_swap.hpp"

#include <thread>
#include <utility>

#include "metrics/pipeline_metrics.hpp"
#include "common/plugin_log.hpp"
#include "host/plugin_instance.hpp"

namespace posthog::server {

namespace {

SwapAttempt attempt_from(const std::exception& e, const std::string& plugin, const std::string& file,
                         std::string_view trigger) {
  SwapAttempt a;
  a.plugin = plugin;
  a.file = file;
  a.trigger = std::string(trigger);
  a.step = "error";  // not a load step: the server failed (memory, file system)
  a.message = e.what();
  a.at = std::chrono::system_clock::now();
  return a;
}

SwapAttempt attempt_from(const LoadError& e, const std::string& plugin, std::string_view trigger) {
  SwapAttempt a;
  a.plugin = plugin;
  a.file = e.file();
  a.trigger = std::string(trigger);
  a.step = to_string(e.step());
  a.message = e.details().empty() ? e.what() : e.details().front();
  for (std::size_t i = 1; i < e.details().size(); ++i) a.message += "; " + e.details()[i];
  a.field = e.field();
  a.at = std::chrono::system_clock::now();
  return a;
}

}  // namespace

const char* SwapResult::outcome_name() const noexcept {
  switch (outcome) {
    case Outcome::swapped: return "swapped";
    case Outcome::unchanged: return "unchanged";
    case Outcome::refused: return "refused";
  }
  return "refused";
}

boost::json::object SwapResult::to_json() const {
  boost::json::object o{{"plugin", plugin}, {"outcome", outcome_name()}};
  if (!from_version.empty()) o["from_version"] = from_version;
  if (!to_version.empty()) o["to_version"] = to_version;
  if (outcome == Outcome::swapped) {
    o["generation"] = generation;
    o["drain_ms"] = drain_ms;
    o["drained"] = drained;
  }
  if (refusal) {
    boost::json::object r{{"file", refusal->file}, {"step", refusal->step}, {"message", refusal->message}};
    if (!refusal->field.empty()) r["field"] = refusal->field;
    if (refusal->team_id) r["team_id"] = *refusal->team_id;
    o["refusal"] = std::move(r);
  }
  return o;
}

ModuleSwap::ModuleSwap(std::vector<PluginSpec> plugins, LiveChains& chains, HostServices& services,
                       PluginVersions& versions, ModuleSwapOptions options)
    : plugins_(std::move(plugins)), chains_(chains), services_(services), versions_(versions), options_(options) {}

const PluginSpec* ModuleSwap::spec(const std::string& plugin) const {
  for (auto const& p : plugins_)
    if (p.name == plugin) return &p;
  return nullptr;
}

const PluginSpec* ModuleSwap::plugin_for_file(const std::filesystem::path& file) const {
  std::error_code ec;
  auto const folder = std::filesystem::weakly_canonical(file.parent_path(), ec);
  for (auto const& p : plugins_) {
    if (p.file.filename() != file.filename()) continue;
    std::error_code ec2;
    if (std::filesystem::weakly_canonical(p.file.parent_path(), ec2) == folder) return &p;
  }
  return nullptr;
}

void ModuleSwap::record_startup(const std::vector<LoadError>& refusals) {
  auto const set = chains_.current();
  for (auto const& instance : set->instances()) {
    versions_.serving(instance->module().name(), instance->shared_module(), chains_.generation());
    seen_hash_[instance->module().name()] = instance->module().content_hash();
  }
  for (auto const& e : refusals) {
    for (auto const& p : plugins_)
      if (p.file.string() == e.file()) versions_.refused(attempt_from(e, p.name, "startup"));
  }
}

SwapResult ModuleSwap::refuse(SwapResult result, SwapAttempt attempt) {
  result.outcome = SwapResult::Outcome::refused;
  if (services_.log) {
    std::string where = attempt.team_id ? " (team " + std::to_string(*attempt.team_id) + ")" : "";
    if (!attempt.field.empty()) where += " field " + attempt.field;
    services_.log->error({attempt.team_id.value_or(0), attempt.plugin, "swap", attempt.step,
                          "swap to " + attempt.file + " refused at " + attempt.step + where + ": " + attempt.message +
                              "; " + (result.from_version.empty() ? "nothing" : "version " + result.from_version) +
                              " keeps serving",
                          {}, {}, {}});
  }
  result.refusal = attempt;
  versions_.refused(std::move(attempt));
  return result;
}

SwapResult ModuleSwap::swap_in(const std::string& plugin, std::string_view trigger, std::filesystem::path file,
                               bool only_if_changed) {
  std::lock_guard lock(mutex_);
  SwapResult result;
  result.plugin = plugin;
  auto const* p = spec(plugin);
  if (!p) {
    SwapAttempt a{plugin, file.string(), std::string(trigger), "name",
                  "no plugin called '" + plugin + "' is in the config", {}, {}, {}, std::chrono::system_clock::now()};
    result.refusal = a;
    return result;  // not a version of anything: nothing to record
  }
  if (file.empty()) file = p->file;
  auto const serving = versions_.current(plugin);
  if (serving) result.from_version = serving->version();
  try {
    if (PluginModule::mapped_images() >= options_.max_mapped_images)
      throw LoadError(file.string(), LoadStep::file,
                      {std::to_string(PluginModule::mapped_images()) +
                       " module images are mapped already (never unmapped, see the design notes): restart the "
                       "server to swap again"});
    ModuleImage image(file);
    bool const seen = std::exchange(seen_hash_[plugin], image.content_hash()) == image.content_hash();
    if ((serving && serving->content_hash() == image.content_hash()) || (only_if_changed && seen)) {
      result.outcome = SwapResult::Outcome::unchanged;
      result.to_version = serving->version();
      return result;
    }
    auto module = PluginModule::load(file, image, host_api());
    result.to_version = module->version();
    if (module->name() != plugin)
      throw LoadError(file.string(), LoadStep::manifest,
                      {"the module is called '" + module->name() + "', not '" + plugin + "'"});
    return publish(*p, std::move(module), trigger);
  } catch (const TeamCopyError& e) {
    auto a = attempt_from(e, plugin, trigger);
    a.team_id = e.team_id();
    return refuse(std::move(result), std::move(a));
  } catch (const LoadError& e) {
    return refuse(std::move(result), attempt_from(e, plugin, trigger));
  } catch (const std::exception& e) {
    return refuse(std::move(result), attempt_from(e, plugin, file.string(), trigger));
  }
}

SwapResult ModuleSwap::roll_back(const std::string& plugin, std::string_view trigger) {
  std::lock_guard lock(mutex_);
  SwapResult result;
  result.plugin = plugin;
  auto const* p = spec(plugin);
  auto const previous = versions_.previous(plugin);
  auto const serving = versions_.current(plugin);
  if (serving) result.from_version = serving->version();
  if (!p || !previous) {
    result.refusal = SwapAttempt{plugin, {}, "rollback", "name",
                                 p ? "no previous version of '" + plugin + "' to roll back to"
                                   : "no plugin called '" + plugin + "' is in the config",
                                 {}, {}, {}, std::chrono::system_clock::now()};
    return result;
  }
  result.to_version = previous->version();
  try {
    return publish(*p, previous, trigger);
  } catch (const TeamCopyError& e) {
    auto a = attempt_from(e, plugin, "rollback");
    a.team_id = e.team_id();
    return refuse(std::move(result), std::move(a));
  } catch (const LoadError& e) {
    return refuse(std::move(result), attempt_from(e, plugin, "rollback"));
  } catch (const std::exception& e) {
    return refuse(std::move(result), attempt_from(e, plugin, previous->file(), "rollback"));
  }
}

std::vector<SwapResult> ModuleSwap::swap_changed(std::string_view trigger) {
  std::vector<SwapResult> results;
  for (auto const& p : plugins_) results.push_back(swap_in(p.name, trigger, {}, true));
  return results;
}

SwapResult ModuleSwap::publish(const PluginSpec& spec, std::shared_ptr<PluginModule> module,
                               std::string_view trigger) {
  SwapResult result;
  result.plugin = spec.name;
  auto const serving = versions_.current(spec.name);
  if (serving) result.from_version = serving->version();
  result.to_version = module->version();

  auto instance = PluginInstance::create(module, spec.settings, services_.log, services_.states);  // LoadError(setup_instance)
  if (services_.metrics) instance->set_metrics_slot(services_.metrics->plugin_slot(spec.name));
  std::uint64_t generation = 0;
  std::weak_ptr<PluginInstance> old;
  chains_.update([&](const ChainSet& now) {
    auto next = ChainSet::with_instance(now, instance, services_);  // TeamCopyError
    old = now.instance(spec.name);
    generation = chains_.generation() + 1;
    return next;
  });
  instance.reset();

  // The old instance lives as long as any set has it: the one just replaced,
  // pinned by the batches that began before the publish, and any older set
  // still pinned (an admin team change may have published one in between).
  // Once the last lets go, no event can reach the old version any more.
  auto const start = std::chrono::steady_clock::now();
  auto const deadline = start + options_.drain_deadline;
  auto pause = std::chrono::microseconds(50);
  while (!old.expired() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(2000));
  }
  result.drained = old.expired();
  result.drain_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  result.generation = generation;
  result.outcome = SwapResult::Outcome::swapped;
  versions_.serving(spec.name, module, generation, result.drain_ms, trigger);
  if (listener_) {
    try {
      listener_(spec.name, *module, trigger);
    } catch (const std::exception& e) {  // the swap stands; only telling others failed
      if (services_.log)
        services_.log->log({0, spec.name, POSTHOG_LOG_WARN, std::string("after the swap: ") + e.what(),
                            std::chrono::system_clock::now()});
    }
  }

  if (services_.log) {
    std::string message = "swapped " + spec.name + " " + (result.from_version.empty() ? "(none)" : result.from_version) +
                          " -> " + result.to_version + " (" + std::string(trigger) + ", generation " +
                          std::to_string(generation) + ", old version drained in " +
                          std::to_string(static_cast<long long>(result.drain_ms * 1000)) + " us)";
    if (!result.drained)
      message += "; the old version was still in use at the deadline and is torn down when released";
    services_.log->log({0, spec.name, result.drained ? POSTHOG_LOG_INFO : POSTHOG_LOG_WARN, message, std::chrono::system_clock::now()});
  }
  return result;
}

}  // namespace posthog::server
