// PluginScope: the server's side of `posthog_meta` for one (team, plugin).
//
// It owns the opaque posthog_context handed to every service call and scopes
// every key it forwards to the stores with "@plugin/<plugin>/<team>/" (PostHog's
// layout), which is what makes a plugin unable to reach another team's cache or
// storage: the plugin never passes a team, the scope does.
#pragma once

#include <posthog/abi.h>

#include <boost/json/object.hpp>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace posthog::server {

class TeamCache;
class PluginStorage;
class PluginLog;
class PipelineMetrics;
class HourlyAppMetrics;
class TeamPluginStates;
class TeamPluginState;
class SetupRetries;
class PluginModule;

// Receives events emitted by plugins through meta.capture().
class CaptureSink {
 public:
  virtual ~CaptureSink() = default;
  // Throws when the event cannot be accepted (e.g. capture depth exceeded).
  virtual void capture(std::int64_t team_id, boost::json::object event) = 0;
};

// Receives jobs queued by plugins through meta.jobs(...).
class JobSink {
 public:
  virtual ~JobSink() = default;
  // run_at_ms <= 0: now. Throws when the job cannot be kept (the store failed).
  virtual void enqueue(std::int64_t team_id, const std::string& plugin, std::string_view name,
                       std::string_view payload_json, std::int64_t run_at_ms) = 0;
};

// The server-side services every scope forwards to. All must outlive the scopes.
struct HostServices {
  TeamCache* cache = nullptr;
  PluginStorage* storage = nullptr;
  PluginLog* log = nullptr;
  CaptureSink* capture = nullptr;
  PipelineMetrics* metrics = nullptr;  // serve mode's /metrics; null: nothing counted
  JobSink* jobs = nullptr;             // serve mode's job queue; null: meta.jobs fails with a clear error
  TeamPluginStates* states = nullptr;  // health, set-up status, declared metrics; null: none kept
  SetupRetries* setup_retries = nullptr;  // serve mode's: a failed setup_team is tried again; null: refused
  HourlyAppMetrics* app_metrics = nullptr;  // serve mode's 24 hours per (team, plugin); null: none kept
};

// The table handed to a module's entry function.
const posthog_host_api* host_api() noexcept;

// How many service calls on this thread failed for the server's own reasons
// (Redis or the store out of reach, the pipeline full), so far. A hook that
// fails after one of them did is not charged to the plugin's health.
std::uint64_t host_service_failures() noexcept;

}  // namespace posthog::server

struct posthog_context {
  std::int64_t team_id;
  // Interned (hook_calls.hpp): one copy per name for the process's life, not
  // one per team, and safe for a watchdog to read after the copy is gone.
  const std::string& plugin;
  posthog::server::HostServices* services;
  // Its job names and declared metrics are what meta.jobs and meta.metrics accept.
  const posthog::server::PluginModule* module;
  // This (team, plugin)'s state, once there is one (team_plugin_states.hpp):
  // looked up again whenever the registry's epoch moved.
  mutable std::atomic<posthog::server::TeamPluginState*> state{nullptr};
  mutable std::atomic<std::uint64_t> seen_epoch{~std::uint64_t(0)};

  posthog::server::TeamPluginState* state_if_any() const;
  posthog::server::TeamPluginState& state_for_update() const;  // made if needed; needs services->states

  // The scoped key, "@plugin/<plugin>/<team>/<key>" (PostHog's layout), built
  // in a per-thread buffer: no allocation per cache call, and no prefix kept
  // per team copy. Valid until the next key() on this thread; stores copy
  // what they keep.
  std::string_view key(const char* k, std::size_t n) const {
    thread_local std::string buffer;
    char team[24];
    auto const end = std::to_chars(team, team + sizeof team, team_id).ptr;
    buffer.assign("@plugin/").append(plugin).append(1, '/').append(team, end).append(1, '/').append(k, n);
    return buffer;
  }
};

namespace posthog::server {

class PluginScope {
 public:
  // `module` must outlive the scope (the instance keeps it); null: no jobs, no metrics.
  PluginScope(std::int64_t team_id, std::string plugin, HostServices& services,
              const PluginModule* module = nullptr);
  PluginScope(const PluginScope&) = delete;
  PluginScope& operator=(const PluginScope&) = delete;

  // The meta handed to a hook, made for the call: a dozen stores, where
  // keeping one per team copy cost 96 bytes of every copy. Valid for the call
  // (a module keeps what it needs, never the pointer).
  posthog_meta meta() const noexcept;
  // The meta for one attempt of a retried call (export_events, a job).
  posthog_meta meta_for_attempt(std::uint32_t attempt, std::uint32_t max_attempts) const noexcept {
    posthog_meta m = meta();
    m.attempt = attempt;
    m.max_attempts = max_attempts;
    return m;
  }
  std::int64_t team_id() const noexcept { return context_.team_id; }
  const std::string& plugin() const noexcept { return context_.plugin; }
  const posthog_context& context() const noexcept { return context_; }

 private:
  mutable posthog_context context_;  // services reach it through the meta's non-const pointer
};

}  // namespace posthog::server
