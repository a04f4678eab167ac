#include "pipeline_runner.hpp"

#include <boost/json/parser.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

#include "capture/event_normalisation.hpp"
#include "health/hook_calls.hpp"
#include "log/log_record.hpp"
#include "common/json_lines.hpp"

namespace posthog::server {

struct PipelineRunner::Worker {
  Worker(const LiveChains& chains, PluginLog& log, PluginTimings* timings, bool drop_without_chain)
      : chain(chains, log, timings, drop_without_chain) {}
  ChainWorker chain;
  // Records were checked by capture (or written by a server of ours); input
  // lines meet capture's own nesting limit.
  boost::json::parser parser{boost::json::storage_ptr(), event_parse_options()};
  boost::json::parser line_parser{boost::json::storage_ptr(), event_parse_options(default_max_json_depth)};
  OwnedCounter in, malformed;  // read by stats() on other threads
};

PipelineRunner::PipelineRunner(const LiveChains& chains, PluginLog& log, EventSink& sink, RunnerPolicy policy,
                               RunnerHooks hooks)
    : log_(log), sink_(sink), policy_(policy), hooks_(std::move(hooks)) {
  unsigned const n = std::max(1u, policy_.workers);
  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(chains, log, hooks_.timings ? hooks_.timings(i) : nullptr,
                                                policy_.drop_teams_without_chain));
    workers_.back()->chain.export_to(hooks_.exports);
    workers_.back()->chain.copy_ip_into_properties(sink.wants_ip_in_properties());
  }
  pool_ = std::make_unique<PartitionedWorkers<RunnerBatch>>(
      n, policy_.queue_batches, [this](std::size_t i, std::vector<RunnerBatch>& batches) { run(i, batches); });
}

PipelineRunner::~PipelineRunner() { close_and_join(); }

void PipelineRunner::push(RunnerBatch&& batch) {
  in_flight_.fetch_add(batch.events(), std::memory_order_relaxed);
  pool_->push(batch.partition % workers_.size(), std::move(batch));
}

void PipelineRunner::close_and_join() {
  closing_ = true;
  if (pool_) pool_->close_and_join();
}

RunnerStats PipelineRunner::stats() const {
  RunnerStats s;
  for (auto const& w : workers_) {
    s.in += w->in;
    s.malformed += w->malformed;
    s.out += w->chain.written();
    s.dropped += w->chain.stats().dropped;
    s.plugin_errors += w->chain.stats().plugin_errors + w->chain.stats().illegal_team_changes;
    s.captured += w->chain.captured();
  }
  s.sink_failures = sink_failures_.load();
  s.left_in_log = left_in_log_.load();
  return s;
}

// Each event of each record: parsed once, into the worker's batch arena;
// events as a client sent them are normalised first.
void PipelineRunner::feed_log(Worker& w, const LogBatch& batch) {
  for (std::size_t r = 0; r < batch.records.size(); ++r) {
    try {
      LogRecordView const record(batch.record(r));
      auto events = record.events();
      for (RecordEvent e; events.next(e);) {
        w.parser.reset(w.chain.batch_storage());
        boost::system::error_code ec;
        w.parser.write(e.text.data(), e.text.size(), ec);
        if (ec) {
          ++w.malformed;
          if (hooks_.report)
            hooks_.report({{"type", "log_error"}, {"partition", batch.partition},
                           {"message", "an event in the log is not JSON (" + ec.message() + "); skipped"}});
          continue;
        }
        auto v = w.parser.release();
        if (!v.is_object()) {
          ++w.malformed;
          continue;
        }
        auto& event = v.get_object();
        if (record.kind() == RecordKind::capture) normalise_event(event, record.team_id(), record, e.distinct_id, e.uuid);
        ++w.in;
        w.chain.run(WorkItem{std::move(event), record.team_id(), record.depth(),
                             r < batch.positions.size() ? batch.positions[r] : 0});
      }
    } catch (const LogRecordError& e) {
      // Not written by a server of this version (a Redis stream anyone can
      // write to): its events cannot be told apart, so the record is skipped.
      ++w.malformed;
      if (hooks_.report)
        hooks_.report({{"type", "log_error"}, {"partition", batch.partition}, {"message", std::string(e.what()) + "; skipped"}});
    }
  }
}

void PipelineRunner::feed_lines(Worker& w, const LineBatch& batch) {
  for (auto const& line : batch.lines) {
    auto reject = [&](const std::string& why, std::size_t column) {
      ++w.malformed;
      boost::json::object o{{"type", "input_error"}, {"line", line.number}, {"message", why}};
      if (column) o["column"] = column;
      if (hooks_.report) hooks_.report(std::move(o));
    };
    w.line_parser.reset(w.chain.batch_storage());
    boost::system::error_code ec;
    auto const text = batch.line(line);
    std::size_t const consumed = w.line_parser.write(text.data(), text.size(), ec);
    if (ec) {
      reject("malformed JSON: " + ec.message(), consumed + 1);
      continue;
    }
    auto v = w.line_parser.release();
    if (!v.is_object()) {
      reject("an event must be a JSON object", 0);
      continue;
    }
    auto team = hooks_.team_of_line ? hooks_.team_of_line(v.get_object(), w.chain.chains()) : std::nullopt;
    if (!team) {
      reject("no team: the event has no integer team_id and no known project token "
             "(token, api_key, $token or properties.token)",
             0);
      continue;
    }
    ++w.in;
    w.chain.run(WorkItem{std::move(v.get_object()), *team, 0});
  }
}

// True once the sink has the batches' events; false when it was given up on at close.
bool PipelineRunner::sink(Worker& w, std::vector<RunnerBatch>& batches, std::size_t events) {
  if (hooks_.about_to_sink)
    for (auto const& b : batches)
      if (b.from_log()) hooks_.about_to_sink(b.log);
  for (int attempt = 1;; ++attempt) {
    try {
      sink_.write(w.chain.sink_batch());
      return true;
    } catch (const std::exception& e) {
      sink_failures_.fetch_add(1, std::memory_order_relaxed);
      if (hooks_.report)
        hooks_.report({{"type", "sink_error"}, {"message", e.what()}, {"events", events}, {"attempt", attempt}});
      if (closing_ && attempt >= policy_.attempts_when_closing) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5000, 100 << std::min(attempt, 6))));
    }
  }
}

void PipelineRunner::run(std::size_t i, std::vector<RunnerBatch>& batches) {
  Worker& w = *workers_[i];
  std::size_t events = 0;
  bool from_log = false;
  for (auto const& b : batches) {
    events += b.events();
    from_log = from_log || b.from_log();
  }
  w.chain.begin_batch();
  for (auto const& b : batches) {
    if (!b.log.records.empty()) feed_log(w, b.log);
    else feed_lines(w, b.lines);
  }
  if (!hand_out(w, batches, events, from_log)) {
    w.chain.abandon_batch();
    return leave(events);
  }
  w.chain.finish_batch();
  leave(events);
}

// The sink write, the export queue and the commits, as one output section
// (health/hook_calls.hpp): a worker process that dies meanwhile finishes this
// first, so a batch is either out and committed or runs again whole.
bool PipelineRunner::hand_out(Worker& w, std::vector<RunnerBatch>& batches, std::size_t events, bool from_log) {
  HookCalls::OutputSection const section;
  if (!sink(w, batches, events)) {
    // Given up at close: the events are not out. From the log they stay there
    // (not committed) and run again at the next start.
    left_in_log_.fetch_add(events, std::memory_order_relaxed);
    return false;
  }
  for (int attempt = 1; !w.chain.queue_exports(); ++attempt) {
    // The export queue refused the events: the log delivers the batches again
    // (Redis), or the queue is asked again (the embedded store).
    bool redelivered = from_log && hooks_.redeliver;
    for (auto& b : batches)
      if (redelivered && b.from_log()) redelivered = hooks_.redeliver(b.log);
    if (redelivered) return false;
    if (closing_ && attempt >= policy_.attempts_when_closing) {
      left_in_log_.fetch_add(events, std::memory_order_relaxed);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5000, 100 << std::min(attempt, 6))));
  }
  if (hooks_.done)
    for (auto& b : batches)
      if (b.from_log()) hooks_.done(b.log);
  return true;
}

void PipelineRunner::leave(std::size_t events) {
  in_flight_.fetch_sub(events, std::memory_order_relaxed);
  if (hooks_.room) hooks_.room();
}

}  // namespace posthog::server
