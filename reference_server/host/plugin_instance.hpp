// PluginInstance: a module's process-wide state (one per module per process,
// from setup_instance), and TeamPlugin: one configured copy per (team, plugin).
//
// A TeamPlugin is what a chain calls. It is small on purpose (the scope, a
// pointer to the module's copy, the validated config): the expensive, shared
// state lives once in the instance.
#pragma once

#include <posthog/abi.h>

#include <boost/json/object.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/export_settings.hpp"
#include "loader/plugin_module.hpp"
#include "metrics/hourly_app_metrics.hpp"
#include "plugin_scope.hpp"

namespace posthog::server {

class PluginInstance {
 public:
  // Runs setup_instance with the instance settings. Throws LoadError(setup_instance),
  // also when `states` says it crashed a worker process before (worker_crash.hpp).
  static std::shared_ptr<PluginInstance> create(std::shared_ptr<PluginModule> module,
                                                const boost::json::object& settings, PluginLog* log = nullptr,
                                                 const TeamPluginStates* states = nullptr);
  ~PluginInstance();
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  PluginModule& module() const noexcept { return *module_; }
  const std::shared_ptr<PluginModule>& shared_module() const noexcept { return module_; }
  posthog_instance* handle() const noexcept { return handle_; }
  // Where this plugin's counters live in PipelineMetrics (by name, so a swapped
  // module keeps them).
  std::size_t metrics_slot() const noexcept { return metrics_slot_; }
  void set_metrics_slot(std::size_t slot) noexcept { metrics_slot_ = slot; }

 private:
  PluginInstance() = default;
  std::shared_ptr<PluginModule> module_;
  posthog_instance* handle_ = nullptr;
  PluginLog* log_ = nullptr;
  std::size_t metrics_slot_ = 0;
};

// Which try of a retried call (export_events, a job) this is, for meta.attempt().
struct Attempt {
  std::uint32_t number = 1;  // 1: the first try
  std::uint32_t last = 0;    // the number of the last try the server will make
};

using ScheduledHook = posthog_status (*posthog_plugin_vtable::*)(posthog_team*, const posthog_meta*, posthog_error*);

class TeamPlugin {
 public:
  // Validates `config` against the manifest's schema (LoadError team_config,
  // naming the field), then runs setup_team (LoadError setup_team).
  static std::shared_ptr<TeamPlugin> create(std::shared_ptr<PluginInstance> instance, std::int64_t team_id,
                                            const boost::json::object& config, HostServices& services);
  ~TeamPlugin();
  TeamPlugin(const TeamPlugin&) = delete;
  TeamPlugin& operator=(const TeamPlugin&) = delete;

  PluginModule& module() const noexcept { return instance_->module(); }
  const std::string& name() const noexcept { return scope_.plugin(); }
  std::int64_t team_id() const noexcept { return scope_.team_id(); }
  posthog_team* handle() const noexcept { return handle_; }
  posthog_meta meta() const noexcept { return scope_.meta(); }  // for one call
  std::size_t metrics_slot() const noexcept { return instance_->metrics_slot(); }

  // PostHog's "name (id)" of a plugin config, as $plugins_succeeded lists it;
  // a plugin config is a (team, plugin) pair here, so the id is the team's.
  std::string identifier() const { return name() + " (" + std::to_string(team_id()) + ")"; }
  // False while this (team, plugin) is paused or disabled for its health
  // (health/plugin_health.hpp): the caller skips the hook.
  bool runnable() const noexcept;
  // This hook crashed a worker process on the calling thread's subject
  // (health/worker_crash.hpp): called anyway, it fails at once with the crash,
  // so the event lists the plugin as failed, not deferred, even while paused.
  bool crashed_on_subject(const char* hook) const;
  // This (team, plugin)'s state, if it has one yet.
  TeamPluginState* state() const { return scope_.context().state_if_any(); }

  // Every hook call is timed (`took`, when asked), watched for the hard
  // timeout, and charged to the plugin's health when it fails or runs slow.
  posthog_status process_event(boost::json::object& event, posthog_error& error,
                               std::chrono::nanoseconds* took = nullptr) const noexcept;
  posthog_status on_event(const boost::json::object& event, posthog_error& error,
                          std::chrono::nanoseconds* took = nullptr) const noexcept;
  bool exports() const noexcept { return module().has_hook(&posthog_plugin_vtable::export_events); }
  // What the team's config says about its exports; null unless exports().
  const ExportSettings* export_settings() const noexcept { return export_settings_.get(); }
  // Whether `event` (its name) goes to this copy's export_events.
  bool exports_event(std::string_view event) const noexcept {
    return export_settings_ && !export_settings_->ignores(event);
  }
  posthog_status export_events(const std::vector<const boost::json::object*>& events, Attempt attempt,
                               posthog_error& error) const noexcept;
  posthog_status run_job(std::string_view name, std::string_view payload_json, Attempt attempt,
                         posthog_error& error) const noexcept;
  // hook: &posthog_plugin_vtable::run_every_minute (or _hour, _day); check has_hook first.
  bool has_scheduled(ScheduledHook hook) const noexcept { return module().has_hook(hook); }
  posthog_status run_scheduled(ScheduledHook hook, posthog_error& error) const noexcept;

 private:
  TeamPlugin(std::shared_ptr<PluginInstance> instance, std::int64_t team_id, HostServices& services);
  template <class Call>
  posthog_status watched(const char* hook, posthog_error& error, std::chrono::nanoseconds* took,
                         Call&& call) const noexcept;
  // Adds the call to this pair's hourly app metrics (services_.app_metrics).
  void count_hourly(posthog_status status, std::chrono::nanoseconds took) const noexcept;
  std::shared_ptr<PluginInstance> instance_;
  PluginScope scope_;
  posthog_team* handle_ = nullptr;
  HostServices& services_;
  std::unique_ptr<const ExportSettings> export_settings_;  // only for a plugin with export_events
  mutable std::atomic<HourlyCalls*> hourly_{nullptr};     // found on the first call
};

}  // namespace posthog::server
