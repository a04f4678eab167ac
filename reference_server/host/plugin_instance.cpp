#include "plugin_instance.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

#include <posthog/errors.hpp>

#include <boost/json/serialize.hpp>

#include "health/hook_calls.hpp"
#include "health/team_plugin_states.hpp"
#include "stores/plugin_attachments.hpp"
#include "common/plugin_log.hpp"
#include "common/load_error.hpp"
#include "common/epoch_ms.hpp"

namespace posthog::server {

namespace {

// A set-up that crashed a worker process (health/worker_crash.hpp) is refused
// from then on, as if it had thrown, without being called again.
std::optional<QuarantinedCall> crashed_setup(const TeamPluginStates* states, std::int64_t team_id,
                                             const std::string& plugin, const char* hook) {
  auto const* state = states ? states->find(team_id, plugin) : nullptr;
  if (!state || !state->has_quarantine()) return std::nullopt;
  return state->quarantined("setup", hook);
}

// A plugin that ran a supervised worker out of memory ends the worker, marked
// with the call, like a crash: its memory cannot be taken back otherwise.
void end_worker_if_out_of_memory(posthog_status status, const posthog_error& error) noexcept {
  if (status == POSTHOG_ERROR && HookCalls::supervised() && std::strcmp(error.kind, "std::bad_alloc") == 0)
    HookCalls::end_worker(HookCalls::out_of_memory);
}

}  // namespace

std::shared_ptr<PluginInstance> PluginInstance::create(std::shared_ptr<PluginModule> module,
                                                       const boost::json::object& settings, PluginLog* log,
                                                       const TeamPluginStates* states) {
  std::shared_ptr<PluginInstance> instance(new PluginInstance());
  instance->module_ = std::move(module);
  instance->log_ = log;
  if (auto const crash = crashed_setup(states, 0, instance->module_->name(), "setup_instance"))
    throw LoadError(instance->module_->file(), LoadStep::setup_instance,
                    {"setup_instance crashed its worker process (" + crash->cause + "); it is not called again"});
  auto const text = boost::json::serialize(settings);
  posthog_error error{};
  posthog_status status;
  {
    HookCalls::set_subject("setup");
    HookCall watch(0, &interned_plugin_name(instance->module_->name()), "setup_instance", HookCalls::coarse_ns());
    status = instance->module_->vtable().setup_instance(text.data(), text.size(), &instance->handle_, &error);
    end_worker_if_out_of_memory(status, error);
  }
  if (status != POSTHOG_OK) {
    // A ConfigError from setup_instance is about the plugin's instance settings.
    std::string field;
    if (status == POSTHOG_CONFIG_ERROR) {
      auto const setting = ConfigError::from_message(error.message).field();
      field = setting.empty() ? "settings" : "settings." + setting;
    }
    throw LoadError(instance->module_->file(), LoadStep::setup_instance,
                    {std::string("setup_instance threw ") + error.kind + ": " + error.message}, field);
  }
  return instance;
}

PluginInstance::~PluginInstance() {
  if (!handle_) return;
  posthog_error error{};
  if (module_->vtable().teardown_instance(handle_, &error) != POSTHOG_OK && log_)
    log_->error({0, module_->name(), "teardown_instance", error.kind, error.message, {}, {}, {}});
}

TeamPlugin::TeamPlugin(std::shared_ptr<PluginInstance> instance, std::int64_t team_id, HostServices& services)
    : instance_(std::move(instance)),
      scope_(team_id, instance_->module().name(), services, &instance_->module()),
      services_(services) {}

std::shared_ptr<TeamPlugin> TeamPlugin::create(std::shared_ptr<PluginInstance> instance, std::int64_t team_id,
                                               const boost::json::object& config, HostServices& services) {
  std::shared_ptr<TeamPlugin> copy(new TeamPlugin(std::move(instance), team_id, services));
  auto& module = copy->module();
  std::string const where = "team " + std::to_string(team_id) + ", plugin " + module.name();
  boost::json::object validated;
  std::vector<std::string> notes;
  try {
    // A file uploaded for an attachment field stands in the config as what is
    // known of it (the plugin reads the bytes with meta.attachments.get).
    boost::json::object given = config;
    for (auto const& field : module.manifest().config) {
      if (field.type != posthog::ConfigFieldType::attachment || given.contains(field.key) || !services.storage) continue;
      try {
        if (auto const a = PluginAttachments(*services.storage).get(team_id, module.name(), field.key))
          given[field.key] = {{"file_name", a->file_name}, {"content_type", a->content_type}, {"size", a->size}};
      } catch (const std::runtime_error& e) {  // the store out of reach: set up without it, and say so
        if (services.log)
          services.log->log({team_id, module.name(), POSTHOG_LOG_WARN,
                             "attachment '" + field.key + "' could not be read for set-up: " + e.what(), {}});
      }
    }
    validated = module.manifest().validate_config(given);
    if (copy->exports())
      copy->export_settings_ = std::make_unique<const ExportSettings>(ExportSettings::from_config(validated, notes));
  } catch (const posthog::ConfigError& e) {
    throw LoadError(module.file(), LoadStep::team_config, {where + ": " + e.what()}, e.field());
  }
  if (services.log)
    for (auto const& note : notes) services.log->log({team_id, module.name(), POSTHOG_LOG_WARN, note, {}});
  // Handed over as text; the module keeps its own parsed copy (not this one: a copy per team is memory).
  auto const text = boost::json::serialize(validated);
  auto const meta = copy->meta();
  posthog_team_setup setup{sizeof(posthog_team_setup), team_id, text.data(), text.size(), &meta};
  if (auto const crash = crashed_setup(services.states, team_id, module.name(), "setup_team"))
    throw LoadError(module.file(), LoadStep::setup_team,
                    {where + ": setup_team crashed its worker process (" + crash->cause + "); it is not called again"});
  posthog_error error{};
  posthog_status status;
  {
    HookCalls::set_subject("setup");
    HookCall watch(team_id, &copy->scope_.context().plugin, "setup_team", HookCalls::coarse_ns());
    status = module.vtable().setup_team(copy->instance_->handle(), &setup, &copy->handle_, &error);
    end_worker_if_out_of_memory(status, error);
  }
  if (status != POSTHOG_OK) {
    copy->handle_ = nullptr;
    bool const config = status == POSTHOG_CONFIG_ERROR;
    throw LoadError(module.file(), config ? LoadStep::team_config : LoadStep::setup_team,
                    {where + ": setup_team threw " + error.kind + ": " + error.message},
                    config ? ConfigError::from_message(error.message).field() : std::string());
  }
  if (auto* state = copy->state(); state && state->setup().phase != SetupStatus::Phase::ok) state->set_setup({});
  return copy;
}

TeamPlugin::~TeamPlugin() {
  if (!handle_) return;
  posthog_error error{};
  auto const m = meta();
  if (module().vtable().teardown_team(handle_, &m, &error) != POSTHOG_OK && services_.log)
    services_.log->error({team_id(), name(), "teardown", error.kind, error.message, {}, {}, {}});
}

bool TeamPlugin::crashed_on_subject(const char* hook) const {
  auto const* st = state();
  return st && st->has_quarantine() && st->quarantined(HookCalls::subject(), hook).has_value();
}

bool TeamPlugin::runnable() const noexcept {
  auto* st = state();
  if (!st) return true;
  switch (st->health().state()) {
    case HealthState::healthy:
    case HealthState::degraded: return true;
    case HealthState::disabled: return false;
    case HealthState::paused: break;
  }
  try {
    auto& states = *services_.states;
    states.report(*st, st->health().refresh(states.policy(), states.now()));
  } catch (const std::exception& e) {  // the report could not be written: the pause still ends
    if (services_.log) services_.log->log({team_id(), name(), POSTHOG_LOG_ERROR, std::string("health report failed: ") + e.what(), {}});
  }
  return st->health().state() != HealthState::paused;
}

template <class Call>
posthog_status TeamPlugin::watched(const char* hook, posthog_error& error, std::chrono::nanoseconds* took,
                                   Call&& call) const noexcept {
  // A latency histogram and the hourly durations want the precise clock; health
  // and the watchdog make do with the coarse one.
  auto const clock = took || services_.app_metrics ? &HookCalls::steady_ns : &HookCalls::coarse_ns;
  auto const started = clock();
  auto const host_failures = host_service_failures();
  // The call that crashed a worker process on this subject (an event, a job,
  // an export batch) is not made again: it fails, as if it had thrown.
  if (auto const* state = this->state(); state && state->has_quarantine())
    if (auto const crash = state->quarantined(HookCalls::subject(), hook)) {
      std::snprintf(error.kind, sizeof error.kind, "plugin_crash");
      std::snprintf(error.message, sizeof error.message,
                    "%s crashed its worker process on this %s (%s); the plugin is skipped for it, as if it had thrown",
                    hook, HookCalls::subject().substr(0, HookCalls::subject().find(' ')).c_str(), crash->cause.c_str());
      return POSTHOG_ERROR;
    }
  posthog_status status;
  {
    HookCall watch(team_id(), &scope_.context().plugin, hook, started);
    status = call();
    end_worker_if_out_of_memory(status, error);
  }
  std::chrono::nanoseconds const elapsed(clock() - started);
  if (took) *took = elapsed;
  if (services_.app_metrics) count_hourly(status, elapsed);
  auto* states = services_.states;
  // A call during which the server's own stores failed the plugin (Redis
  // away, say) failed or dragged because of them: not charged.
  if (!states || host_service_failures() != host_failures) return status;
  // A drop is an answer, a RetryError a request to come back, an unknown job
  // the server's question: none of them is the plugin failing.
  bool const failed = status == POSTHOG_ERROR || status == POSTHOG_CONFIG_ERROR;
  if (!failed && elapsed < states->policy().slow_from) return status;  // the common case: nothing to charge
  try {
    auto& state = scope_.context().state_for_update();
    char took_text[32];
    std::snprintf(took_text, sizeof took_text, "%.3f s", static_cast<double>(elapsed.count()) / 1e9);
    std::string reason = failed ? std::string(hook) + " threw " + error.kind + ": " + error.message
                                : std::string(hook) + " took " + took_text;
    states->report(state, state.health().charge(states->policy(), call_cost(states->policy(), elapsed, failed),
                                                states->now(), std::move(reason)));
  } catch (const std::exception& e) {
    if (services_.log)
      services_.log->log({team_id(), name(), POSTHOG_LOG_ERROR, std::string("health charge failed: ") + e.what(), {}});
  }
  return status;
}

void TeamPlugin::count_hourly(posthog_status status, std::chrono::nanoseconds took) const noexcept {
  auto* calls = hourly_.load(std::memory_order_acquire);
  if (!calls) {
    try {
      calls = &services_.app_metrics->of(team_id(), name());
    } catch (const std::exception& e) {
      if (services_.log)
        services_.log->log({team_id(), name(), POSTHOG_LOG_ERROR, std::string("app metrics not kept: ") + e.what(), {}});
      return;
    }
    hourly_.store(calls, std::memory_order_release);
  }
  // PostHog's app metrics: a drop is the plugin's answer, so a success; a
  // RetryError is a call that did not succeed, so a failure (retried later).
  bool const failed = status != POSTHOG_OK && status != POSTHOG_DROP;
  calls->record(coarse_epoch_ms(), failed, took.count());
}

posthog_status TeamPlugin::process_event(boost::json::object& event, posthog_error& error,
                                         std::chrono::nanoseconds* took) const noexcept {
  return watched("process_event", error, took,
                 [&] {
                   auto const m = meta();
                   return module().vtable().process_event(handle_, &event, &m, &error);
                 });
}

posthog_status TeamPlugin::export_events(const std::vector<const boost::json::object*>& events, Attempt attempt,
                                         posthog_error& error) const noexcept {
  auto const meta = scope_.meta_for_attempt(attempt.number, attempt.last);
  return watched("export_events", error, nullptr, [&] {
    return module().vtable().export_events(handle_, reinterpret_cast<const void* const*>(events.data()),
                                           events.size(), &meta, &error);
  });
}

posthog_status TeamPlugin::run_job(std::string_view name, std::string_view payload_json, Attempt attempt,
                                   posthog_error& error) const noexcept {
  if (!module().runs_jobs()) {
    std::snprintf(error.kind, sizeof error.kind, "%s", "posthog::NotFound");
    std::snprintf(error.message, sizeof error.message, "the plugin declares no job handlers (asked for '%.*s')",
                  static_cast<int>(std::min<std::size_t>(name.size(), 200)), name.data());
    return POSTHOG_NOT_FOUND;
  }
  auto const meta = scope_.meta_for_attempt(attempt.number, attempt.last);
  return watched("run_job", error, nullptr, [&] {
    return module().vtable().run_job(handle_, name.data(), name.size(), payload_json.data(), payload_json.size(),
                                     &meta, &error);
  });
}

posthog_status TeamPlugin::run_scheduled(ScheduledHook hook, posthog_error& error) const noexcept {
  auto const fn = module().vtable().*hook;
  char const* hook_name = hook == &posthog_plugin_vtable::run_every_minute ? "run_every_minute"
                          : hook == &posthog_plugin_vtable::run_every_hour ? "run_every_hour"
                                                                           : "run_every_day";
  return watched(hook_name, error, nullptr, [&] {
    auto const m = meta();
    return fn(handle_, &m, &error);
  });
}

posthog_status TeamPlugin::on_event(const boost::json::object& event, posthog_error& error,
                                    std::chrono::nanoseconds* took) const noexcept {
  return watched("on_event", error, took,
                 [&] {
                   auto const m = meta();
                   return module().vtable().on_event(handle_, &event, &m, &error);
                 });
}

}  // namespace posthog::server
