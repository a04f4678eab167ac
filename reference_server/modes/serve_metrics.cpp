// ServeTopology::render_metrics: everything serve mode says in /metrics
// (Prometheus text, version 0.0.4), gathered from each part of the topology.
#include "exports/export_metrics.hpp"
#include "jobs/job_metrics.hpp"
#include "log/redis_stream_log.hpp"
#include "log/segment_log.hpp"
#include "metrics/prometheus_text.hpp"
#include "process_memory.hpp"
#include "capture_metrics.hpp"
#include "serve_topology.hpp"

namespace posthog::server {

void ServeTopology::render_metrics(std::string& text) {
  metrics_.render(text);
  host_.states.render_metrics(text);
  hot_swap_->render_metrics(text, host_.chains);
  render_export_metrics(text, *exports_);
  render_job_metrics(text, *jobs_, schedules_.get());
  auto gauge = [&](const char* name, const char* help, double v) { prometheus_sample(text, name, "gauge", help, v); };
  auto counter = [&](const char* name, const char* help, double v) { prometheus_sample(text, name, "counter", help, v); };

  // The pipeline.
  gauge("posthog_inflight_events", "Events read from the log and not yet through the pipeline.",
        static_cast<double>(runner_->in_flight()));
  gauge("posthog_inflight_events_limit", "Over this, the pipeline reads no more from the log.",
        static_cast<double>(settings_.max_inflight_events));
  prometheus_header(text, "posthog_worker_queue_batches", "gauge", "Batches waiting for each worker.");
  for (std::size_t w = 0; w < runner_->workers(); ++w)
    text += "posthog_worker_queue_batches{worker=\"" + std::to_string(w) + "\"} " +
            std::to_string(runner_->queue_depth(w)) + "\n";
  auto const stats = runner_->stats();
  counter("posthog_sink_write_failures_total", "Batches the sink refused (retried).",
          static_cast<double>(stats.sink_failures));
  counter("posthog_log_malformed_total", "Log records or events in them that were not events (skipped).",
          static_cast<double>(stats.malformed));

  if (stream_log_ && reader_) {
    auto const c = stream_log_->consumer_status();
    gauge("posthog_stream_partitions_held", "Stream partitions this worker reads.", static_cast<double>(c.partitions.size()));
    counter("posthog_stream_entries_read_total", "Stream entries read (new).", static_cast<double>(c.entries_read));
    counter("posthog_stream_entries_claimed_total", "Stream entries taken over from a worker that died or let go.",
            static_cast<double>(c.entries_claimed));
    counter("posthog_stream_entries_acknowledged_total", "Stream entries acknowledged after the sink.",
            static_cast<double>(c.entries_acknowledged));
    gauge("posthog_stream_acknowledgements_waiting", "Acknowledgements not yet taken by Redis.",
          static_cast<double>(c.acknowledgements_waiting));
  }

  // Capture, the ports and the event log: a supervised worker's supervisor has them.
  if (!supervised_)
    render_capture_metrics(text, *capture_api_, capture_port_.load(), admin_port_.load(), log_->status(), segment_log_ != nullptr);

  // The sink, the cache, Redis, the process.
  if (file_sink_)
    counter("posthog_sink_fsync_failures_total", "fsyncs of the JSONL sink that failed.",
            static_cast<double>(file_sink_->sync_failures()));
  if (forward_sink_) {
    auto const s = forward_sink_->status();
    gauge("posthog_sink_backlog_events", "Events accepted and not yet delivered to PostHog.",
          static_cast<double>(s.backlog.events));
    gauge("posthog_sink_backlog_batches", "Batches waiting in the store.", static_cast<double>(s.backlog.batches));
    counter("posthog_sink_delivered_events_total", "Events PostHog accepted.", static_cast<double>(s.delivered_events));
    counter("posthog_sink_failed_attempts_total", "Deliveries that failed and will be retried.",
            static_cast<double>(s.failed_attempts));
    gauge("posthog_sink_reachable", "1 when the last delivery attempt reached PostHog.", s.reachable ? 1 : 0);
    counter("posthog_sink_parked_batches_total", "Batches PostHog refused for good (kept in the store).",
            static_cast<double>(s.parked_batches));
  }
  gauge("posthog_cache_bytes", "Memory held by the plugin cache.", static_cast<double>(host_.cache.bytes()));
  counter("posthog_cache_evictions_total", "Cache entries dropped to stay within the memory bound.",
          static_cast<double>(host_.cache.evictions()));
  gauge("posthog_plugin_load_errors", "Modules, instances or team copies refused at start.",
        static_cast<double>(host_.refusals.size()));
  if (redis_) {
    gauge("posthog_redis_reachable", "1 when Redis answered PING.", redis_->reachable() ? 1 : 0);
    counter("posthog_redis_round_trips_total", "Commands and pipelines sent to Redis by this process.",
            static_cast<double>(RedisConnection::round_trips()));
  }
  gauge("posthog_resident_memory_bytes", "Resident set size.", static_cast<double>(resident_kib()) * 1024);
}

void render_capture_metrics(std::string& text, const CaptureEndpoint& capture, const HttpServer* capture_port,
                            const HttpServer* admin_port, const LogStatus& log, bool segments) {
  auto gauge = [&](const char* name, const char* help, double v) { prometheus_sample(text, name, "gauge", help, v); };
  auto counter = [&](const char* name, const char* help, double v) { prometheus_sample(text, name, "counter", help, v); };
  // Capture and the ports.
  counter("posthog_requests_refused_busy_total", "Capture requests answered 503 (the event log full).",
          static_cast<double>(capture.refused_busy()));
  counter("posthog_requests_refused_unavailable_total",
          "Capture requests answered 503 (the event log could not be written: disk, fsync, Redis).",
          static_cast<double>(capture.refused_unavailable()));
  std::pair<const char*, const HttpServer*> const ports[] = {{"capture", capture_port}, {"admin", admin_port}};
  auto per_port = [&](const char* name, const char* type, const char* help, std::uint64_t HttpServerStats::*field) {
    prometheus_header(text, name, type, help);
    for (auto const& [which, http_server] : ports) {
      if (!http_server) continue;
      text += name;
      text += "{port=\"";
      text += which;
      text += "\"} ";
      append_number(text, static_cast<double>(http_server->stats().*field));
      text += '\n';
    }
  };
  per_port("posthog_http_connections_open", "gauge", "Connections open.", &HttpServerStats::open_connections);
  per_port("posthog_http_connections_refused_total", "counter",
           "Connections over the port's connection cap, answered 503 and closed.", &HttpServerStats::refused_connections);
  per_port("posthog_http_accept_errors_total", "counter",
           "accept() failures (out of file descriptors ...), each followed by a pause.", &HttpServerStats::accept_errors);

  // The event log.
  counter("posthog_log_appended_events_total", "Events appended to the event log (answered 200).",
          static_cast<double>(log.appended_events));
  counter("posthog_log_appended_records_total", "Records appended (one per request and partition).",
          static_cast<double>(log.appended_records));
  counter("posthog_log_refused_full_total", "Appends refused: the log at its bound.", static_cast<double>(log.refused_full));
  counter("posthog_log_refused_unavailable_total", "Appends refused: the log could not be written.",
          static_cast<double>(log.refused_unavailable));
  gauge("posthog_log_writable", "1 when the event log takes appends.", log.writable ? 1 : 0);
  if (segments) {
    gauge("posthog_log_bytes", "Bytes of the event log on disk.", static_cast<double>(log.bytes));
    gauge("posthog_log_max_bytes", "The event log's bound (serve.log.max_bytes).", static_cast<double>(log.max_bytes));
    gauge("posthog_log_segments", "Segment files of the event log.", static_cast<double>(log.segments));
    gauge("posthog_log_pending_events", "Events in the log not yet committed.", static_cast<double>(log.pending_events));
    counter("posthog_log_fsyncs_total", "fdatasync calls of the event log (one per group commit).",
            static_cast<double>(log.fsyncs));
    counter("posthog_log_redelivered_events_total",
            "Events delivered again after a crash that had been handed to the sink: each may be there twice.",
            static_cast<double>(log.redelivered_events));
    gauge("posthog_log_torn_bytes", "Bytes cut from a torn or damaged tail when the log was opened.",
          static_cast<double>(log.torn_bytes));
  }
}

}  // namespace posthog::server
