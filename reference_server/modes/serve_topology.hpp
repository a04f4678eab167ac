// ServeTopology: serve mode's running graph, built in one place and torn down
// in one place.
//
//   sources (HTTP capture) -> the event log -> the pipeline runner -> the sink
//                                                  |-> export queue, on_event
//   beside them: the store, Redis, the plugin host (chains, services), jobs,
//   schedules, exports, hot swap, the admin API, the watchdog
//
// Members are declared in the order they are built, so they are destroyed in
// reverse: whatever a member uses was built before it and outlives it.
// Services a plugin reaches through `meta` are attached to the host for as
// long as their owner lives (ServiceLink), so a teardown hook that runs late
// meets a clear error, never a dangling call. shutdown() is the one order in
// which things stop: capture first, then whatever runs hooks outside the
// pipeline, then the log drains through the pipeline into the sink.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>

#include "admin/admin_api.hpp"
#include "common/periodic_task.hpp"
#include "sources/capture_endpoint.hpp"
#include "config/serve_settings.hpp"
#include "exports/export_runner.hpp"
#include "health/call_watchdog.hpp"
#include "generations/setup_retries.hpp"
#include "http/http_server.hpp"
#include "jobs/job_runner.hpp"
#include "stores/schedule_lock.hpp"
#include "jobs/scheduler.hpp"
#include "log/event_log.hpp"
#include "metrics/hourly_app_metrics.hpp"
#include "metrics/pipeline_metrics.hpp"
#include "pipeline/pipeline_runner.hpp"
#include "sinks/fd_writer.hpp"
#include "sinks/jsonl_file_sink.hpp"
#include "sinks/posthog_forward_sink.hpp"
#include "stores/durable_store.hpp"
#include "stores/redis/cluster_bus.hpp"
#include "stores/redis/redis_cache.hpp"
#include "stores/redis/redis_pool.hpp"
#include "embedded_plugin_host.hpp"
#include "hot_swap.hpp"
#include "serve_mode.hpp"

namespace posthog::server {

class SegmentLog;
class RedisStreamLog;

// Sets a HostServices pointer for the life of its owner, and clears it after.
template <class Service>
class ServiceLink {
 public:
  ServiceLink(Service*& slot, Service* service) : slot_(slot) { slot_ = service; }
  ~ServiceLink() { slot_ = nullptr; }
  ServiceLink(const ServiceLink&) = delete;
  ServiceLink& operator=(const ServiceLink&) = delete;

 private:
  Service*& slot_;
};

class ServeTopology {
 public:
  // Builds everything (throws std::runtime_error naming what cannot be
  // opened or listened on) and starts the threads.
  ServeTopology(const ServerConfig& file_config, const ServeSettings& settings, const ServeOptions& options);
  ~ServeTopology();
  ServeTopology(const ServeTopology&) = delete;
  ServeTopology& operator=(const ServeTopology&) = delete;

  // SIGHUP: every plugin whose file changed is swapped.
  void reload_changed() { hot_swap_->reload_changed("SIGHUP"); }
  // SIGTERM or SIGINT: the exit code once everything accepted is in the sink
  // (1 when events had to be left in the log for the next start).
  int shutdown(const char* signal_name);
  // The two halves of shutdown(), which a supervised worker runs when its
  // supervisor says: first whatever runs hooks outside the pipeline stops
  // (capture, the admin API, swaps, jobs, schedules, exports); then, once the
  // log has drained through the pipeline, the pipeline closes and the sink is
  // flushed. finish() returns the exit code.
  void quiesce();
  int finish();

  // What /_ready says: the store, the sink, the log, Redis, and whether all is well.
  boost::json::object readiness();
  // Every project token and its team, as the running chains have them.
  boost::json::object tokens() const;
  // Makes the sink's writes durable (a supervised worker's supervisor asks,
  // before it makes the log's commits durable).
  void sync_sink() { sink_->sync(); }

 private:
  void render_metrics(std::string& text);  // serve_metrics.cpp
  void capture_elsewhere(std::int64_t team_id, boost::json::object event);
  bool capturing() const noexcept { return settings_.role != "worker" && !supervised_; }
  bool working() const noexcept { return settings_.role != "capture"; }

  const ServeSettings settings_;
  const SupervisedRun* const supervised_;
  std::chrono::steady_clock::time_point const started_;
  FdWriter out_, err_;
  std::atomic<bool> draining_{false};

  // Stores: the embedded one always (logs, errors, the forward backlog), Redis
  // for what a cluster shares.
  DurableStore store_;
  DurableStorage storage_;
  std::unique_ptr<RedisPool> redis_;
  std::unique_ptr<RedisCache> redis_cache_;
  std::unique_ptr<RedisStorage> redis_storage_;
  PipelineMetrics metrics_;
  HourlyAppMetrics app_metrics_;

  // The plugin host: modules, instances, team copies, and the services they use.
  EmbeddedPluginHost host_;
  std::unique_ptr<JobQueue> job_queue_;
  std::unique_ptr<ScheduleLock> schedule_lock_;
  std::unique_ptr<JobRunner> jobs_;
  std::unique_ptr<ServiceLink<JobSink>> jobs_link_;
  std::unique_ptr<TeamRegistry> redis_teams_;
  TeamRegistry* teams_ = nullptr;
  std::unique_ptr<SetupRetries> setup_retries_;
  std::unique_ptr<ServiceLink<SetupRetries>> setup_retries_link_;
  std::unique_ptr<ClusterBus> bus_;
  std::unique_ptr<HotSwap> hot_swap_;
  std::unique_ptr<ExportQueue> export_queue_;
  std::unique_ptr<ExportRunner> exports_;
  std::unique_ptr<Scheduler> schedules_;

  // The path of an event.
  std::unique_ptr<JsonlFileSink> file_sink_;
  std::unique_ptr<PosthogForwardSink> forward_sink_;
  EventSink* sink_ = nullptr;
  std::unique_ptr<SegmentLog> segment_log_;
  std::unique_ptr<RedisStreamLog> stream_log_;
  EventLog* log_ = nullptr;
  LogReader* reader_ = nullptr;  // null on a capture-only server
  std::unique_ptr<PipelineRunner> runner_;
  std::atomic<bool> pipeline_closed_{false};
  std::atomic<std::uint64_t> captured_outside_{0};
  std::unique_ptr<CaptureEndpoint> capture_api_;

  // The ports, and what watches the plugins' calls.
  std::unique_ptr<AdminApi> admin_;
  std::unique_ptr<HttpServer> server_, admin_server_;
  // The same, for /metrics: a port's handlers run before the constructor has
  // stored the server they belong to, so they read these, published after.
  std::atomic<const HttpServer*> capture_port_{nullptr}, admin_port_{nullptr};
  std::unique_ptr<CallWatchdog> watchdog_;
  // A supervised worker with Redis: crashes on other servers, read every
  // second, so that a partition taken over from a crashed worker does not
  // crash this one (health/shared_crashes.hpp). Declared after what it
  // touches, so that it stops before they are destroyed.
  std::set<std::string> known_crashes_;  // as JSON text
  std::atomic<std::size_t> quarantined_calls_{0};  // crashes known here: /_ready says
  PeriodicTask shared_crashes_;
  void learn_shared_crashes();
};

}  // namespace posthog::server
