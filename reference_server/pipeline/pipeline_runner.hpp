// PipelineRunner: the one path every event takes, in every mode.
//
//   batch (log records, or JSON lines) -> one parse per event -> normalise
//   (what capture did not) -> the team's chain -> the sink, retried -> the
//   export queue -> done (the log commits the batch) -> on_event
//
// Batches arrive tagged with their partition and go to the worker thread
// partition % workers, so one person's events are handled by one thread, in
// log order. Each worker has a bounded queue: a full one blocks whoever pushes
// (the log's reader, process mode's stdin reader). A worker runs whatever
// waits in its queue as one: one pass of the chains, one sink write, then a
// commit per log batch. `in_flight()` counts the events pushed and not yet
// done, what the log's reader holds back on.
//
// A sink that fails holds its batch: retried with backoff, so the pipeline
// fills and the log's reader stops reading, instead of events being dropped.
// Only while closing does it give up after a few tries: a log batch then stays
// in the log (not committed), and is delivered again at the next start.
//
//   PipelineRunner runner(chains, log, sink, policy, hooks);
//   runner.push(batch);              // from the reading thread
//   runner.close_and_join();         // what was pushed runs first
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "log/event_log.hpp"
#include "sinks/event_sink.hpp"
#include "chain_worker.hpp"
#include "partitioned_workers.hpp"

namespace posthog::server {

class ExportRunner;
class PluginLog;
class ChainSet;
struct PluginTimings;

// Input lines of process mode, unparsed, in blocks that share one buffer.
struct LineBatch {
  struct Line {
    std::uint32_t offset, size;
    std::uint64_t number;
  };
  std::string text;
  std::vector<Line> lines;
  void add(std::string_view line, std::uint64_t number) {
    lines.push_back({static_cast<std::uint32_t>(text.size()), static_cast<std::uint32_t>(line.size()), number});
    text.append(line);
  }
  std::string_view line(const Line& l) const { return std::string_view(text).substr(l.offset, l.size); }
};

struct RunnerBatch {
  std::size_t partition = 0;
  LogBatch log;      // records from the event log ...
  LineBatch lines;   // ... or lines of process mode's input
  std::size_t events() const noexcept { return log.events ? log.events : lines.lines.size(); }
  bool from_log() const noexcept { return log.end || !log.ids.empty() || !log.records.empty(); }
};

struct RunnerPolicy {
  unsigned workers = 1;
  std::size_t queue_batches = 8;  // per worker
  // Serve mode's rule: a team deleted after its events were accepted must not
  // have them written unprocessed. Process mode passes them through.
  bool drop_teams_without_chain = true;
  int attempts_when_closing = 3;  // sink tries before a batch is left for the next start
};

struct RunnerHooks {
  // The sink is about to get a log batch / has it (and the export queue has
  // its events): the log's about_to_sink() and commit().
  std::function<void(const LogBatch&)> about_to_sink;
  std::function<void(LogBatch&)> done;
  // The export queue refused a log batch's events; true when the log will
  // deliver the batch again (Redis), false to retry the queue here.
  std::function<bool(LogBatch&)> redeliver;
  // A batch is out of the pipeline (done or not): the log's reader may read on.
  std::function<void()> room;
  // Process mode's lines: the team of a parsed event (it has no record to say).
  std::function<std::optional<std::int64_t>(boost::json::object&, const ChainSet&)> team_of_line;
  // Diagnostics: (type, message, fields...) as JSON lines.
  std::function<void(boost::json::object)> report;
  std::function<PluginTimings*(std::size_t worker)> timings;
  ExportRunner* exports = nullptr;
};

struct RunnerStats {
  std::uint64_t in = 0, out = 0, dropped = 0, plugin_errors = 0, captured = 0;
  std::uint64_t malformed = 0;        // lines, or log records and events, that were not events
  std::uint64_t sink_failures = 0;    // sink writes that failed (retried)
  std::uint64_t left_in_log = 0;      // events of batches given up at close: delivered again next start
};

class PipelineRunner {
 public:
  PipelineRunner(const LiveChains& chains, PluginLog& log, EventSink& sink, RunnerPolicy policy, RunnerHooks hooks);
  ~PipelineRunner();
  PipelineRunner(const PipelineRunner&) = delete;
  PipelineRunner& operator=(const PipelineRunner&) = delete;

  // Blocks while the batch's worker queue is full.
  void push(RunnerBatch&& batch);
  std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
  std::size_t workers() const noexcept { return workers_.size(); }
  std::size_t queue_depth(std::size_t worker) { return pool_->depth(worker); }
  // From now on a failing sink is given up on after a few tries.
  void closing() noexcept { closing_ = true; }
  // Runs what is queued, then joins the worker threads.
  void close_and_join();
  RunnerStats stats() const;

 private:
  struct Worker;
  void run(std::size_t worker, std::vector<RunnerBatch>& batches);
  void feed_log(Worker& w, const LogBatch& batch);
  void feed_lines(Worker& w, const LineBatch& batch);
  bool sink(Worker& w, std::vector<RunnerBatch>& batches, std::size_t events);
  bool hand_out(Worker& w, std::vector<RunnerBatch>& batches, std::size_t events, bool from_log);
  void leave(std::size_t events);

  PluginLog& log_;
  EventSink& sink_;
  RunnerPolicy policy_;
  RunnerHooks hooks_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<bool> closing_{false};
  std::atomic<std::uint64_t> sink_failures_{0}, left_in_log_{0};
  std::unique_ptr<PartitionedWorkers<RunnerBatch>> pool_;
};

}  // namespace posthog::server
