// PluginScope: the server's side of `posthog_meta` for one (team, plugin).
//
// It owns the opaque posthog_context handed to every service call and scopes
// every key it forwards to the stores with "@plugin/<plugin>/<team>/" (PostHog's
// layout), which is what makes a plugin unable to reach another team's cache or
// storage: the plugin never passes a team, the scope does.
#pragma once

#include <posthog/abi.h>

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace posthog::server {

class TeamCache;
class PluginStorage;
class PluginLog;
class PipelineMetrics;

// Receives events emitted by plugins through meta.capture().
class CaptureSink {
 public:
  virtual ~CaptureSink() = default;
  // Throws when the event cannot be accepted (e.g. capture depth exceeded).
  virtual void capture(std::int64_t team_id, boost::json::object event) = 0;
};

// The server-side services every scope forwards to. All must outlive the scopes.
struct HostServices {
  TeamCache* cache = nullptr;
  PluginStorage* storage = nullptr;
  PluginLog* log = nullptr;
  CaptureSink* capture = nullptr;
  PipelineMetrics* metrics = nullptr;  // serve mode's /metrics; null: nothing counted
};

// The table handed to a module's entry function.
const posthog_host_api* host_api() noexcept;

}  // namespace posthog::server

struct posthog_context {
  std::int64_t team_id;
  std::string plugin;
  std::string key_prefix;
  posthog::server::HostServices* services;

  // The scoped key, built in a per-thread buffer: no allocation per cache call.
  // Valid until the next key() on this thread; stores copy what they keep.
  std::string_view key(const char* k, std::size_t n) const {
    thread_local std::string buffer;
    buffer.assign(key_prefix).append(k, n);
    return buffer;
  }
};

namespace posthog::server {

class PluginScope {
 public:
  PluginScope(std::int64_t team_id, std::string plugin, HostServices& services);
  PluginScope(const PluginScope&) = delete;
  PluginScope& operator=(const PluginScope&) = delete;

  const posthog_meta* meta() const noexcept { return &meta_; }
  std::int64_t team_id() const noexcept { return context_.team_id; }
  const std::string& plugin() const noexcept { return context_.plugin; }

 private:
  posthog_context context_;
  posthog_meta meta_;
};

}  // namespace posthog::server
