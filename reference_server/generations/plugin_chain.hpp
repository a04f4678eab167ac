// PluginChain: one team's plugins in order, run on one event.
//
// The rules, as PostHog's plugin server ran processEvent (worker/plugins/run.ts),
// with two deliberate differences:
//   - plugins run in the team's order; one returning false drops the event and
//     stops the chain (counted per plugin; a dropped event gets no bookkeeping);
//   - a plugin that throws has its error recorded (plugin, team, event uuid,
//     message, the event it received) and the event continues *as it was before
//     that plugin* (PostHog kept whatever the plugin had half-written; we restore
//     a snapshot, so a failed plugin leaves no trace in the event);
//   - team_id cannot change: a plugin that changes it gets an IllegalOperationError
//     recorded, counts as failed, and the change is undone (its other edits stay);
//   - a kept event records the outcome in properties.$plugins_succeeded,
//     $plugins_failed and $plugins_deferred, as "name (id)" strings
//     (TeamPlugin::identifier). Deferred: plugins that run after the sink
//     (on_event, export_events), plugins skipped for their health (paused or
//     disabled: the event goes on as if they were not installed), and plugins
//     whose setup_team has not succeeded yet;
//   - PostHog read the lists an event arrived with and skipped the plugins
//     already in them (for events re-run after a partial failure). Nothing here
//     re-runs part of a chain, and honouring a client's list would let any
//     client skip a filter plugin by naming it, so they are replaced.
#pragma once

#include <boost/json/object.hpp>
#include "common/json_lines.hpp"
#include "common/owned_counter.hpp"
#include "common/reusable_arena.hpp"
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "host/plugin_instance.hpp"
#include "metrics/pipeline_metrics.hpp"

namespace posthog::server {

class PluginLog;

// Counters a worker keeps for itself (no sharing, no atomics) and sums at the end.
// Counted by the thread that runs the chain, read by /metrics on others.
struct ChainStats {
  OwnedCounter dropped;
  OwnedCounter plugin_errors;
  OwnedCounter illegal_team_changes;
};

// Per-thread scratch space for the snapshots taken before each plugin: a fixed
// buffer, so a snapshot of an ordinary event costs no heap allocation at all
// (bigger ones spill to the heap until the next reset()).
class PluginChain;

struct ChainScratch {
  ReusableArena arena{64 * 1024};
  PluginTimings* timings = nullptr;  // this worker's, by plugin slot; null: not timed
  // One event's outcome per plugin, reused from event to event.
  std::vector<const TeamPlugin*> succeeded, failed, skipped;
  const PluginChain* outcome_of = nullptr;  // the chain whose outcome these are; null: none to record
  std::string subject;        // "event <uuid>": what a hook that hangs or crashes was working on
  std::uint64_t position = 0;  // the event's record in the event log, when it came from one
};

class PluginChain {
 public:
  // `awaiting_setup`: enabled plugins of the team whose setup_team has not
  // succeeded yet (setup_retries.hpp); listed as deferred on every event.
  PluginChain(std::int64_t team_id, std::vector<std::shared_ptr<TeamPlugin>> plugins,
              TeamCounters* counters = nullptr, std::vector<std::string> awaiting_setup = {});

  // Runs every process_event hook. Returns false when a plugin dropped the
  // event. The outcome is left in `scratch` (outcome_of is this chain): the
  // caller writes it with the event (write_outcome, as the event is
  // serialised: no JSON values built) or into it (record_outcome).
  bool process(boost::json::object& event, ChainScratch& scratch, PluginLog& log, ChainStats& stats) const;
  // "$plugins_succeeded":[...],"$plugins_failed":[...],"$plugins_deferred":[...]
  void write_outcome(JsonBuffer& out, const ChainScratch& scratch) const;
  // The same three lists set in the event's properties (for on_event, which sees the event).
  void record_outcome(boost::json::object& event, const ChainScratch& scratch) const;
  // The property names the outcome replaces in an event.
  static constexpr std::string_view outcome_keys[] = {"$plugins_succeeded", "$plugins_failed", "$plugins_deferred"};
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
  const std::vector<std::string>& awaiting_setup() const noexcept { return awaiting_setup_; }

 private:
  // visit(list, plugin name) for each entry of the three lists, in order (0: succeeded, 1: failed, 2: deferred).
  template <class Visit>
  void visit_outcome(const ChainScratch& scratch, Visit&& visit) const;

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
  std::vector<const TeamPlugin*> run_later_;  // on_event or export_events: deferred on every event
  std::vector<std::string> awaiting_setup_;
};

}  // namespace posthog::server
