#include "plugin_chain.hpp"

#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <optional>

#include "../stores/plugin_log.hpp"

namespace posthog::server {
namespace {

std::string uuid_of(const boost::json::object& event) {
  auto const* v = event.if_contains("uuid");
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

void record(PluginLog& log, const TeamPlugin& plugin, const char* hook, const posthog_error& error,
            const boost::json::object& event) {
  log.error({plugin.team_id(), plugin.name(), hook, error.kind, error.message, uuid_of(event),
             boost::json::serialize(event), {}});
}

}  // namespace

PluginChain::PluginChain(std::int64_t team_id, std::vector<std::shared_ptr<TeamPlugin>> plugins,
                         TeamCounters* counters)
    : team_id_(team_id), plugins_(std::move(plugins)), counters_(counters) {
  for (auto const& p : plugins_) {
    if (p->module().has_hook(&posthog_plugin_vtable::process_event))
      process_event_.push_back({p.get(), !p->module().has(POSTHOG_CAP_PROCESS_EVENT_NOEXCEPT)});
    if (p->module().has_hook(&posthog_plugin_vtable::on_event)) on_event_.push_back(p.get());
    if (p->exports()) exporters_.push_back(p.get());
  }
}

bool PluginChain::process(boost::json::object& event, ChainScratch& scratch, PluginLog& log,
                          ChainStats& stats) const {
  for (auto const& [plugin, may_fail] : process_event_) {
    bool dropped = false;
    {
      // The snapshot lives in the arena and is copied back only on failure. It
      // must be gone before the arena is released, hence this scope. A plugin
      // whose process_event is noexcept cannot fail, so it gets none.
      std::optional<boost::json::object> before;
      if (may_fail) before.emplace(event, scratch.arena.storage());
      posthog_error error;
      error.kind[0] = error.message[0] = '\0';
      PluginTimings* timed = scratch.timings ? &scratch.timings[plugin->metrics_slot()] : nullptr;
      auto const started = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
      auto const status = plugin->process_event(event, error);
      if (timed) {
        timed->observe(std::chrono::steady_clock::now() - started);
        timed->calls.add();
        if (status == POSTHOG_DROP) timed->dropped.add();
        else if (status != POSTHOG_OK) timed->errors.add();
      }
      if (status == POSTHOG_DROP) {
        ++stats.dropped;
        dropped = true;
      } else if (status != POSTHOG_OK) {
        ++stats.plugin_errors;
        record(log, *plugin, "process_event", error, before ? *before : event);
        if (before) event = *before;
      } else if (auto const* t = event.if_contains("team_id"); !t || !t->is_int64() || t->get_int64() != team_id_) {
        ++stats.illegal_team_changes;
        posthog_error illegal{};
        std::snprintf(illegal.kind, sizeof illegal.kind, "IllegalOperationError");
        std::snprintf(illegal.message, sizeof illegal.message,
                      "process_event changed team_id (to %s); plugins cannot change team_id, the change was undone",
                      t ? boost::json::serialize(*t).c_str() : "nothing");
        record(log, *plugin, "process_event", illegal, event);
        event["team_id"] = team_id_;
      }
    }
    if (may_fail) scratch.arena.reset();
    if (dropped) return false;
  }
  return true;
}

void PluginChain::on_event(const boost::json::object& event, PluginLog& log, ChainStats& stats,
                           PluginTimings* timings) const {
  for (const TeamPlugin* plugin : on_event_) {
    posthog_error error;
    error.kind[0] = error.message[0] = '\0';
    PluginTimings* timed = timings ? &timings[plugin->metrics_slot()] : nullptr;
    if (timed) timed->on_event_calls.add();
    if (plugin->on_event(event, error) != POSTHOG_OK) {
      if (timed) timed->on_event_errors.add();
      ++stats.plugin_errors;
      record(log, *plugin, "on_event", error, event);
    }
  }
}

}  // namespace posthog::server
