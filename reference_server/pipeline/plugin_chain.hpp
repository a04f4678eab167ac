// PluginChain: one team's plugins in order, run on one event.
//
// The rules, as PostHog's plugin server ran processEvent (worker/plugins/run.ts),
// with one deliberate difference:
//   - plugins run in the team's order; one returning false drops the event and
//     stops the chain;
//   - a plugin that throws has its error recorded (plugin, team, event uuid,
//     message, the event it received) and the event continues *as it was before
//     that plugin* (PostHog kept whatever the plugin had half-written; we restore
//     a snapshot, so a failed plugin leaves no trace in the event);
//   - team_id cannot change: a plugin that changes it gets an error recorded and
//     the change undone.
#pragma once

#include <boost/json/object.hpp>
#include "reusable_arena.hpp"
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../loader/plugin_instance.hpp"
#include "../metrics/pipeline_metrics.hpp"

namespace posthog::server {

class PluginLog;

// Counters a worker keeps for itself (no sharing, no atomics) and sums at the end.
struct ChainStats {
  std::uint64_t dropped = 0;
  std::uint64_t plugin_errors = 0;
  std::uint64_t illegal_team_changes = 0;
};

// Per-thread scratch space for the snapshots taken before each plugin: a fixed
// buffer, so a snapshot of an ordinary event costs no heap allocation at all
// (bigger ones spill to the heap until the next reset()).
struct ChainScratch {
  ReusableArena arena{64 * 1024};
  PluginTimings* timings = nullptr;  // this worker's, by plugin slot; null: not timed
};

class PluginChain {
 public:
  PluginChain(std::int64_t team_id, std::vector<std::shared_ptr<TeamPlugin>> plugins,
              TeamCounters* counters = nullptr);

  // Runs every process_event hook. Returns false when a plugin dropped the event.
  bool process(boost::json::object& event, ChainScratch& scratch, PluginLog& log, ChainStats& stats) const;
  // Runs every on_event hook (after the sink accepted the event).
  void on_event(const boost::json::object& event, PluginLog& log, ChainStats& stats,
                PluginTimings* timings = nullptr) const;

  std::int64_t team_id() const noexcept { return team_id_; }
  const std::vector<std::shared_ptr<TeamPlugin>>& plugins() const noexcept { return plugins_; }
  bool has_on_event() const noexcept { return !on_event_.empty(); }
  // The copies whose plugin has export_events: each event that reaches the
  // sink is queued for every one of them.
  const std::vector<const TeamPlugin*>& exporters() const noexcept { return exporters_; }
  TeamCounters* counters() const noexcept { return counters_; }  // null when not counted

 private:
  std::int64_t team_id_;
  std::vector<std::shared_ptr<TeamPlugin>> plugins_;
  TeamCounters* counters_;
  struct Step {
    const TeamPlugin* plugin;
    bool may_fail;  // false for a noexcept process_event: no undo snapshot needed
  };
  std::vector<Step> process_event_;  // only the plugins that have the hook
  std::vector<const TeamPlugin*> on_event_;
  std::vector<const TeamPlugin*> exporters_;
};

}  // namespace posthog::server
