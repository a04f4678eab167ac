// ChainWorker: what one worker thread owns to run events through their teams'
// chains, shared by process mode and serve mode.
//
// A batch goes: begin_batch() (pins the ChainSet running now: a chain change
// published mid-batch applies from the next batch); run(item) for each event (the survivors are
// serialised into output(), events plugins capture run right after the event
// that captured them, down to WorkerCapture's depth limit); the caller hands
// output() to the sink; queue_exports() hands the events to the export queue;
// finish_batch() runs the on_event hooks and empties
// everything for the next batch. Nothing here is shared with another worker.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "host/plugin_scope.hpp"
#include "stores/export_queue.hpp"
#include "generations/chain_set.hpp"
#include "generations/live_chains.hpp"
#include "common/json_lines.hpp"
#include "generations/plugin_chain.hpp"
#include "common/reusable_arena.hpp"
#include "sinks/event_sink.hpp"

namespace posthog::server {

class PluginLog;

struct WorkItem {
  boost::json::object event;
  std::int64_t team_id = 0;
  int depth = 0;  // 0 for input events, n for an event captured by a plugin at depth n-1
  std::uint64_t position = 0;  // its record's place in the event log, when known
};

class ExportRunner;

class ChainWorker {
 public:
  // `timings`: this worker's plugin counters in PipelineMetrics, or null.
  // `drop_teams_without_chain`: serve mode's rule (a team deleted after its
  // events were accepted must not have them written unprocessed); process mode
  // passes events of teams it has no chain for through untouched.
  ChainWorker(const LiveChains& chains, PluginLog& log, PluginTimings* timings = nullptr,
              bool drop_teams_without_chain = false)
      : live_(chains), log_(log), drop_without_chain_(drop_teams_without_chain) {
    scratch_.timings = timings;
  }
  ChainWorker(const ChainWorker&) = delete;
  ChainWorker& operator=(const ChainWorker&) = delete;

  // Where events for export_events go once the sink took them (serve mode);
  // without, exporting plugins are not handed anything.
  void export_to(ExportRunner* exports) noexcept { exports_ = exports; }
  // Copy the event's `ip` into properties.$ip when absent, before writing it
  // (the forward sink's wish: EventSink::wants_ip_in_properties).
  void copy_ip_into_properties(bool copy) noexcept { copy_ip_ = copy; }

  void begin_batch();
  // The set pinned for this batch (between begin_batch and finish_batch).
  const ChainSet& chains() const noexcept { return *chains_; }
  void run(WorkItem item);
  JsonBuffer& output() noexcept { return out_; }
  // output() as the sink takes it: the lines, and which team each run of them is.
  SinkBatch sink_batch() const noexcept { return {out_.view(), runs_}; }
  // The sink took the batch: its events go to the export queue. Returns false
  // when the export queue could not take them (recorded as an error): the
  // caller calls queue_exports() again (a retry) or abandon_batch() (when the
  // batch will run again from the log).
  bool queue_exports();
  // The batch is out (and committed): on_event runs, and everything is
  // emptied for the next batch. After the commit, so that a hook that crashes
  // the process cannot make a batch already in the sink run again.
  void finish_batch();
  // The batch's events are not out (the sink gave up, or the batch will run
  // again): nothing is exported, no on_event runs, everything is emptied.
  void abandon_batch();

  // Where a batch's events may be parsed: emptied by finish_batch().
  boost::json::storage_ptr batch_storage() noexcept { return arena_.storage(); }

  const ChainStats& stats() const noexcept { return stats_; }
  std::uint64_t written() const noexcept { return written_; }
  std::uint64_t captured() const noexcept { return captured_count_; }

 private:
  friend class WorkerCapture;
  void run_one(WorkItem& item);
  // Team counters are shared by the workers: counted here while events of one
  // team follow each other, added to the shared atomics when the team changes
  // and at the end of the batch (three atomic adds a run, not per event).
  void tally_for(TeamCounters* team) noexcept;

  const LiveChains& live_;
  std::shared_ptr<const ChainSet> chains_;
  PluginLog& log_;
  bool drop_without_chain_;
  ChainScratch scratch_;
  ReusableArena arena_{1 << 20};
  ChainStats stats_;
  JsonBuffer out_;
  std::vector<TeamRun> runs_;
  struct {
    TeamCounters* team = nullptr;
    std::uint64_t in = 0, out = 0, dropped = 0;
  } tally_;
  struct Survivor {
    const PluginChain* chain;
    boost::json::object event;
  };
  std::vector<Survivor> survivors_;
  ExportRunner* exports_ = nullptr;
  bool copy_ip_ = false;
  std::vector<ExportRow> export_rows_;
  std::deque<WorkItem> captured_;
  OwnedCounter written_;  // read by /metrics while this worker runs
  OwnedCounter captured_count_;
  int depth_ = 0;
};

// meta.capture() for workers: the new event runs through its team's chain on
// the same worker right after the event being handled. Captured events may
// capture further only `max_depth` levels deep, so a plugin cannot loop forever.
class WorkerCapture final : public CaptureSink {
 public:
  explicit WorkerCapture(int max_depth) : max_depth_(max_depth) {}
  void capture(std::int64_t team_id, boost::json::object event) override;
  // Where events captured outside any worker go (a job, a schedule, an export):
  // serve mode submits them to the pipeline. Unset: such a capture fails. Set
  // before any thread may capture.
  using Elsewhere = std::function<void(std::int64_t team_id, boost::json::object event)>;
  void capture_elsewhere(Elsewhere to) { elsewhere_ = std::move(to); }

 private:
  int max_depth_;
  Elsewhere elsewhere_;
};

}  // namespace posthog::server
