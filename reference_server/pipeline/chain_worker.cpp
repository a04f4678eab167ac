#include "chain_worker.hpp"

#include "exports/export_runner.hpp"

#include <iterator>
#include <stdexcept>
#include <string>

#include "common/plugin_log.hpp"

namespace posthog::server {
namespace {
thread_local ChainWorker* current_worker = nullptr;
}  // namespace

void ChainWorker::begin_batch() {
  current_worker = this;
  chains_ = live_.current();
}

void ChainWorker::run_one(WorkItem& item) {
  const PluginChain* chain = chains_->chain(item.team_id);
  depth_ = item.depth;
  if (!chain && drop_without_chain_) {
    ++stats_.dropped;
    return;
  }
  tally_for(chain ? chain->counters() : nullptr);
  ++tally_.in;
  scratch_.position = item.position;
  bool const keep = !chain || chain->process(item.event, scratch_, log_, stats_);
  if (!keep) {
    ++tally_.dropped;
    return;
  }
  if (copy_ip_)
    if (auto* props = item.event.if_contains("properties"); props && props->is_object() && !props->get_object().contains("$ip"))
      if (auto const* ip = item.event.if_contains("ip"); ip && ip->is_string()) props->get_object()["$ip"] = ip->get_string();
  auto const line_start = out_.view().size();
  if (scratch_.outcome_of) {
    // The chain's bookkeeping goes into the text as it is written (no JSON
    // values built per event); on_event sees the event, so it gets them set.
    auto const* outcome = scratch_.outcome_of;
    PropertiesTail const tail{PluginChain::outcome_keys, std::size(PluginChain::outcome_keys),
                              [](const void* scratch, JsonBuffer& out) {
                                auto const& s = *static_cast<const ChainScratch*>(scratch);
                                s.outcome_of->write_outcome(out, s);
                              },
                              &scratch_};
    append_json_line(out_, item.event, tail);
    if (chain->has_on_event()) outcome->record_outcome(item.event, scratch_);
  } else {
    append_json_line(out_, item.event);
  }
  if (exports_ && chain && !chain->exporters().empty()) {
    auto const* name = item.event.if_contains("event");
    std::string_view const event_name = name && name->is_string() ? std::string_view(name->get_string()) : "";
    for (auto const* exporter : chain->exporters())
      if (exporter->exports_event(event_name))  // exportEventsToIgnore
        export_rows_.push_back({item.team_id, exporter->name(),
                                std::string(out_.view().substr(line_start, out_.view().size() - line_start - 1))});
  }
  if (runs_.empty() || runs_.back().team_id != item.team_id) runs_.push_back({item.team_id, 0, 0});
  runs_.back().end = out_.view().size();
  ++runs_.back().events;
  ++tally_.out;
  ++written_;
  if (chain && chain->has_on_event()) survivors_.push_back({chain, std::move(item.event)});
}

void ChainWorker::run(WorkItem item) {
  run_one(item);
  while (!captured_.empty()) {
    WorkItem c = std::move(captured_.front());
    captured_.pop_front();
    ++captured_count_;
    run_one(c);
  }
}

void ChainWorker::tally_for(TeamCounters* team) noexcept {
  if (team == tally_.team) return;
  if (tally_.team) {
    tally_.team->in.fetch_add(tally_.in, std::memory_order_relaxed);
    tally_.team->out.fetch_add(tally_.out, std::memory_order_relaxed);
    tally_.team->dropped.fetch_add(tally_.dropped, std::memory_order_relaxed);
  }
  tally_ = {team, 0, 0, 0};
}

bool ChainWorker::queue_exports() {
  if (!export_rows_.empty()) {
    // Not retried here: an append whose answer was lost may have been applied,
    // and a second one would export the events twice. The caller decides.
    try {
      exports_->enqueue(export_rows_);
    } catch (const std::exception& e) {
      log_.error({export_rows_.front().team_id, export_rows_.front().plugin, "export_events", "StoreError",
                  std::to_string(export_rows_.size()) + " events could not be queued for export: " + e.what(), {}, {},
                  {}});
      return false;
    }
    export_rows_.clear();
  }
  return true;
}

void ChainWorker::finish_batch() {
  // on_event runs once the events were handed to the sink; what it captures
  // goes the way a job's captures go (not into this finished batch).
  current_worker = nullptr;
  for (auto& s : survivors_) s.chain->on_event(s.event, log_, stats_, scratch_.timings);
  survivors_.clear();
  abandon_batch();
}

void ChainWorker::abandon_batch() {
  current_worker = nullptr;
  tally_for(nullptr);
  export_rows_.clear();
  survivors_.clear();
  out_.clear();
  runs_.clear();
  arena_.reset();  // every event of the batch is gone by now
  chains_.reset();  // a replaced set is torn down by its last user
}

void WorkerCapture::capture(std::int64_t team_id, boost::json::object event) {
  ChainWorker* w = current_worker;
  if (!w) {
    if (!elsewhere_) throw std::runtime_error("capture is only available while an event is being processed");
    elsewhere_(team_id, std::move(event));
    return;
  }
  if (w->depth_ >= max_depth_)
    throw std::runtime_error("capture depth limit (" + std::to_string(max_depth_) +
                             ") reached: events captured by plugins may not capture further");
  w->captured_.push_back({std::move(event), team_id, w->depth_ + 1});
}

}  // namespace posthog::server
