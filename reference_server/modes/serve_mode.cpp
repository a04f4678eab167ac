#include "serve_mode.hpp"

#include <posthog/errors.hpp>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "../admin/admin_api.hpp"
#include "../pipeline/json_lines.hpp"
#include "../capture/capture_endpoint.hpp"
#include "../http/descriptor_limit.hpp"
#include "../http/http_server.hpp"
#include "../metrics/prometheus_text.hpp"
#include "../metrics/pipeline_metrics.hpp"
#include "../pipeline/chain_worker.hpp"
#include "../pipeline/partitioned_workers.hpp"
#include "../sinks/fd_writer.hpp"
#include "../sinks/jsonl_file_sink.hpp"
#include "../sinks/posthog_forward_sink.hpp"
#include "../stores/durable_store.hpp"
#include "../stores/plugin_attachments.hpp"
#include "diagnostics.hpp"
#include "embedded_plugin_host.hpp"
#include "hot_swap.hpp"
#include "../exports/export_metrics.hpp"
#include "../health/call_watchdog.hpp"
#include "../health/setup_retries.hpp"
#include "../exports/export_runner.hpp"
#include "../jobs/job_metrics.hpp"
#include "../stores/redis/cluster_bus.hpp"
#include "../stores/redis/event_stream.hpp"
#include "../stores/redis/stream_consumer.hpp"
#include "../capture/capture_error.hpp"
#include "../stores/redis/redis_cache.hpp"
#include "../stores/redis/redis_team_registry.hpp"
#include "cluster_follow.hpp"
#include "../jobs/job_runner.hpp"
#include "../jobs/schedule_lock.hpp"
#include "../jobs/store_job_queue.hpp"
#include "../exports/store_export_queue.hpp"
#include "../stores/redis/redis_export_queue.hpp"
#include "../stores/redis/redis_job_queue.hpp"
#include "../stores/redis/redis_schedule_lock.hpp"
#include "../jobs/scheduler.hpp"
#include "process_memory.hpp"

namespace posthog::server {
namespace {

std::size_t owner_of(const boost::json::object& event, std::int64_t team_id, std::size_t workers) {
  std::size_t h = std::hash<std::int64_t>{}(team_id) * 0x9e3779b97f4a7c15ull;
  if (auto const* d = event.if_contains("distinct_id"); d && d->is_string())
    h ^= std::hash<std::string_view>{}(d->get_string());
  return (h ^ (h >> 29)) % workers;
}

// A batch for one worker thread: events taken by this server's capture, or
// entries read from the Redis stream, parsed by the worker (not the reader)
// and acknowledged once they are in the sink.
struct PipelineBatch {
  std::vector<WorkItem> items;
  std::vector<StreamEntry> entries;
  std::size_t partition = 0;
  std::size_t events = 0;  // counted against the in-flight bound
};

HttpResponse json_ok(const boost::json::object& body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = boost::json::serialize(body);
  return r;
}

// The clock of jobs and schedules: the wall clock, or one running
// serve.jobs.clock_speed times faster (tests and demos: at 30, a minute passes
// every two seconds, identically on every server, since it is a function of
// the wall clock).
std::function<std::int64_t()> job_clock(const ServeSettings& settings) {
  if (settings.job_clock_speed <= 1) return epoch_ms_now;
  auto const speed = static_cast<std::int64_t>(settings.job_clock_speed);
  return [speed] { return epoch_ms_now() * speed; };
}

int level_number(const std::string& name) {
  if (name == "debug") return POSTHOG_LOG_DEBUG;
  if (name == "warn") return POSTHOG_LOG_WARN;
  if (name == "error") return POSTHOG_LOG_ERROR;
  return POSTHOG_LOG_INFO;
}

// Teams set or deleted through the admin API (kept in the store) win over the
// file's. A stored team naming a plugin the file no longer declares runs
// without it; a file team whose token a stored team now owns loses it; both
// reported.
ServerConfig with_stored_teams(ServerConfig config, TeamRegistry& registry, FdWriter& err) {
  std::vector<StoredTeam> stored;
  try {
    stored = registry.teams();
  } catch (const RedisUnavailable& e) {
    // The file's teams serve meanwhile; the cluster bus resyncs when Redis is back.
    err.write(diagnostic_line({{"type", "store_team_error"}, {"message", std::string("teams set through the admin "
                                                                                     "API not read yet: ") + e.what()}}));
    return config;
  }
  for (auto const& s : stored) {
    if (s.deleted)
      std::erase_if(config.teams, [&](const TeamSpec& t) { return t.id == s.team.id; });
  }
  for (auto const& s : stored) {
    if (s.deleted) continue;
    for (auto& t : config.teams) {
      if (t.id == s.team.id || t.token.empty() || t.token != s.team.token) continue;
      err.write(diagnostic_line({{"type", "store_team_error"}, {"team_id", t.id},
                                 {"message", "team " + std::to_string(s.team.id) +
                                                 " (set through the admin API) owns this team's token now; "
                                                 "this team gets no events until it has another"}}));
      t.token.clear();
    }
  }
  for (auto const& s : stored) {
    if (s.deleted) continue;
    auto team = s.team;
    std::erase_if(team.plugins, [&](const TeamPluginSpec& p) {
      bool const declared = std::any_of(config.plugins.begin(), config.plugins.end(),
                                        [&](const PluginSpec& s) { return s.name == p.name; });
      if (!declared)
        err.write(diagnostic_line({{"type", "store_team_error"}, {"team_id", team.id}, {"plugin", p.name},
                                   {"message", "the stored chain names a plugin the config file does not declare; "
                                               "the team runs without it"}}));
      return !declared;
    });
    auto it = std::find_if(config.teams.begin(), config.teams.end(), [&](const TeamSpec& t) { return t.id == team.id; });
    if (it != config.teams.end()) *it = std::move(team);
    else config.teams.push_back(std::move(team));
  }
  return config;
}

}  // namespace

int run_serve_mode(const ServerConfig& file_config, const ServeSettings& settings, const ServeOptions& options) {
  // Every thread started from here on inherits a mask without SIGTERM/SIGINT/
  // SIGHUP: only this thread receives them, in sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto const started = std::chrono::steady_clock::now();
  FdWriter out(options.output_fd), err(options.error_fd);

  DurableStore store(settings.store_path);  // throws StoreError (a runtime_error) naming the file
  DurableStorage storage(store);
  unsigned const workers = worker_count(settings.workers);
  PipelineMetrics metrics(workers);

  EmbeddedPluginHost host(options.max_capture_depth, settings.cache_max_bytes, settings.health);
  host.services.storage = &storage;
  // With Redis, meta.cache and meta.storage are shared by every server that
  // points at it. Unreachable at start is not fatal: plugin calls fail with
  // the reason, /_ready says so, and the pool reconnects when it is back.
  std::unique_ptr<RedisPool> redis;
  std::unique_ptr<RedisCache> redis_cache;
  std::unique_ptr<RedisStorage> redis_storage;
  if (!settings.redis_url.empty()) {
    redis = std::make_unique<RedisPool>(RedisEndpoint::parse(settings.redis_url), settings.redis_pool_size,
                                        std::chrono::milliseconds(settings.redis_timeout_ms));
    redis_cache = std::make_unique<RedisCache>(*redis, settings.redis_prefix);
    redis_storage = std::make_unique<RedisStorage>(*redis, settings.redis_prefix);
    host.services.cache = redis_cache.get();
    host.services.storage = redis_storage.get();
    err.write(diagnostic_line({{"type", "redis"},
                               {"url", redis->endpoint().describe()},
                               {"reachable", redis->reachable()},
                               {"role", settings.role},
                               {"serves", "meta.cache, meta.storage, teams, plugin reloads, the event stream"}}));
  }
  host.services.metrics = &metrics;
  auto& log = host.log;
  int const print_level = level_number(settings.log_level);
  log.observe(
      [&](const PluginLogLine& l) {
        store.append_log(l);
        if (l.level >= print_level) err.write(plugin_log_line(l));
      },
      [&](const PluginErrorRecord& e) {
        store.append_error(e);
        err.write(plugin_error_line(e));
      });
  // Jobs and schedules: kept in the store, run on threads of their own. The
  // runner exists before the plugins are set up, so setup_team can queue jobs.
  // With Redis, one queue and one schedule lock for the whole cluster: a job
  // whose server dies runs on another, and each period runs on one server.
  std::unique_ptr<JobQueue> job_queue;
  std::unique_ptr<ScheduleLock> schedule_lock;
  if (redis) {
    job_queue = std::make_unique<RedisJobQueue>(*redis, settings.redis_prefix,
                                                std::chrono::seconds(settings.job_visibility_seconds));
    // 30 s of the jobs' clock: a holder that died delays a period by that much at most.
    schedule_lock = std::make_unique<RedisScheduleLock>(
        *redis, settings.redis_prefix, std::chrono::milliseconds(std::max(30'000u / settings.job_clock_speed, 1'000u)));
  } else {
    job_queue = std::make_unique<StoreJobQueue>(store);
    schedule_lock = std::make_unique<StoreScheduleLock>(store);
  }
  JobPolicy job_policy;
  job_policy.threads = settings.job_threads;
  job_policy.max_retries = static_cast<int>(settings.job_max_retries);
  job_policy.retry_base = std::chrono::seconds(settings.job_retry_base_seconds);
  JobRunner jobs(*job_queue, host.chains, log, job_policy, job_clock(settings));
  host.services.jobs = &jobs;
  // The team copies outlive the runner (teardown hooks run when `host` goes):
  // whatever they queue from then on fails with a clear error, not a dangling call.
  struct DetachJobs {
    HostServices& services;
    ~DetachJobs() { services.jobs = nullptr; }
  } detach_jobs{host.services};
  std::unique_ptr<RedisTeamRegistry> redis_teams;
  TeamRegistry* teams = &store;
  if (redis) {
    redis_teams = std::make_unique<RedisTeamRegistry>(*redis, settings.redis_prefix);
    teams = redis_teams.get();
  }
  // A setup_team that fails at start is tried again later, as PostHog did.
  SetupRetries setup_retries(host.chains, host.services,
                             {static_cast<int>(settings.setup_max_attempts),
                              std::chrono::milliseconds(settings.setup_retry_base_ms)});
  host.services.setup_retries = &setup_retries;
  struct DetachSetupRetries {
    HostServices& services;
    ~DetachSetupRetries() { services.setup_retries = nullptr; }
  } detach_setup_retries{host.services};
  host.build(with_stored_teams(file_config, *teams, err));
  auto& chains = host.chains;
  auto const& refusals = host.refusals;
  report_load_errors(err, refusals);
  // With Redis, a team change or a hot swap made on one server reaches the
  // others. Made before the hot swap, whose watch thread may announce through
  // it, so that it goes after it.
  std::unique_ptr<ClusterBus> bus;
  if (redis)
    bus = std::make_unique<ClusterBus>(*redis, redis->endpoint(), settings.redis_prefix, [&err](const std::string& what) {
      err.write(diagnostic_line({{"type", "cluster_error"}, {"message", what}}));
    });
  HotSwap hot_swap(file_config, host, err);
  if (bus) {
    hot_swap.swap().on_swapped([&](const std::string& plugin, const PluginModule& serving, std::string_view trigger) {
      if (trigger == "cluster") return;  // followed, not made here: the others were told by whoever made it
      bus->publish({{"type", "plugin"}, {"name", plugin}, {"hash", serving.content_hash()},
                    {"version", serving.version()}});
    });
  }
  // export_events: queued in the store by the workers, handed over by a thread.
  std::unique_ptr<ExportQueue> export_queue;
  if (redis) export_queue = std::make_unique<RedisExportQueue>(*redis, settings.redis_prefix, std::chrono::seconds(settings.job_visibility_seconds));
  else export_queue = std::make_unique<StoreExportQueue>(store);
  ExportPolicy export_policy;
  export_policy.buffer_bytes = settings.export_buffer_bytes;
  export_policy.buffer_age = std::chrono::seconds(settings.export_buffer_seconds);
  export_policy.max_retries = static_cast<int>(settings.export_max_retries);
  export_policy.retry_base = std::chrono::seconds(settings.export_retry_base_seconds);
  ExportRunner exports(*export_queue, chains, log, export_policy);
  Scheduler schedules(*job_queue, chains, *schedule_lock, log, job_clock(settings));

  std::unique_ptr<JsonlFileSink> file_sink;
  std::unique_ptr<PosthogForwardSink> forward_sink;
  EventSink* sink = nullptr;
  if (settings.sink_type == "posthog") {
    ForwardOptions forward;
    forward.url = settings.sink_url;
    forward.api_key = settings.sink_api_key;
    forward.batch_events = settings.sink_batch_events;
    forward.max_backlog_events = settings.sink_max_backlog_events;
    forward_sink = std::make_unique<PosthogForwardSink>(
        forward, store,
        [&chains](std::int64_t team_id) {
          auto const set = chains.current();
          auto const* team = set->team(team_id);
          return team ? team->token : std::string();
        },
        [&err](const std::string& line) { err.write(line); });
    sink = forward_sink.get();
  } else {
    file_sink = std::make_unique<JsonlFileSink>(settings.sink_path, JsonlFileSink::parse_policy(settings.sink_fsync));
    sink = file_sink.get();
  }

  std::vector<std::unique_ptr<ChainWorker>> runners;
  for (unsigned i = 0; i < workers; ++i) {
    runners.push_back(std::make_unique<ChainWorker>(chains, log, metrics.worker_timings(i), true));
    runners.back()->export_to(&exports);
  }
  std::atomic<std::size_t> inflight{0};
  std::atomic<std::uint64_t> accepted{0}, events_lost{0}, sink_failures{0};
  std::atomic<bool> draining{false};

  bool const capturing = settings.role != "worker", working = settings.role != "capture";
  std::unique_ptr<EventStream> stream;
  std::unique_ptr<StreamConsumer> consumer;
  std::atomic<std::uint64_t> refused_unavailable{0}, stream_bad_lines{0};
  if (redis)
    stream = std::make_unique<EventStream>(*redis, settings.redis_prefix,
                                           StreamLayout{settings.stream_partitions, settings.stream_max_entries});

  using Batch = PipelineBatch;
  PartitionedWorkers<Batch> pool(workers, settings.max_inflight_events, [&](std::size_t i, Batch& batch) {
    ChainWorker& w = *runners[i];
    w.begin_batch();
    for (auto& item : batch.items) w.run(std::move(item));
    for (auto const& entry : batch.entries) {
      std::string_view rest = entry.lines;
      while (!rest.empty()) {
        auto const end = rest.find('\n');
        auto const line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        if (line.empty()) continue;
        boost::system::error_code ec;
        auto v = boost::json::parse(line, ec, w.batch_storage(), event_parse_options());
        if (ec || !v.is_object()) {  // not written by a capture server of ours
          ++stream_bad_lines;
          err.write(diagnostic_line({{"type", "stream_error"}, {"entry", entry.id},
                                     {"message", "an event in the stream is not a JSON object; skipped"}}));
          continue;
        }
        w.run(WorkItem{std::move(v.as_object()), entry.team_id, entry.depth});
      }
    }
    // A sink that fails (disk full, backlog full) holds the batch: retried with
    // backoff, the in-flight bound fills and clients get 503 instead of losing
    // events. Only when draining at shutdown does it give up, after a few
    // tries, and count the loss.
    bool sunk = false;
    for (int attempt = 1;; ++attempt) {
      try {
        sink->write(w.sink_batch());
        sunk = true;
        break;
      } catch (const std::exception& e) {
        ++sink_failures;
        err.write(diagnostic_line(
            {{"type", "sink_error"}, {"message", e.what()}, {"events", batch.events}, {"attempt", attempt}}));
        if (draining && attempt >= 3) {
          // From the stream, the entries stay pending in Redis: the worker that
          // takes the partition over runs them. Lost only when they came from here.
          if (batch.entries.empty()) events_lost += batch.events;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5000, 100 << std::min(attempt, 6))));
      }
    }
    // From the stream, a batch whose events are not all out (sink or export
    // queue) is not acknowledged: it stays pending and runs again (at least once).
    bool const exported = w.after_sink(sunk);
    if (consumer && sunk && !batch.entries.empty()) {
      std::vector<std::string> ids;
      ids.reserve(batch.entries.size());
      for (auto& e : batch.entries) ids.push_back(std::move(e.id));
      if (exported) consumer->acknowledge(batch.partition, std::move(ids));
      else consumer->run_again(batch.partition, ids);
    }
    inflight.fetch_sub(batch.events);
  });

  // A worker reads the stream partitions it holds; each partition's entries go
  // to one worker thread, so one person's events keep their order.
  if (stream && working) {
    ConsumerPolicy policy;
    policy.lease = std::chrono::milliseconds(settings.stream_lease_ms);
    policy.read_entries = settings.stream_read_entries;
    consumer = std::make_unique<StreamConsumer>(
        *redis, settings.redis_prefix, stream->layout(), policy, bus->server_id(),
        [&](std::size_t partition, std::vector<StreamEntry>&& entries) {
          Batch batch;
          batch.partition = partition;
          for (auto const& e : entries) batch.events += static_cast<std::size_t>(std::count(e.lines.begin(), e.lines.end(), '\n'));
          batch.entries = std::move(entries);
          inflight += batch.events;
          pool.push(partition % workers, std::move(batch));
        },
        [&err](const char* type, const std::string& message) {
          err.write(diagnostic_line({{"type", type}, {"message", message}}));
        });
  }
  struct StopReading {  // on every way out: the reader must not push into a pool that is gone
    std::unique_ptr<StreamConsumer>& consumer;
    ~StopReading() {
      if (consumer) consumer->stop_reading();
    }
  } stop_reading{consumer};

  // Events a job, a schedule or an export captures (meta.capture outside any
  // worker) enter the pipeline like a request's, under the same bound.
  std::atomic<std::uint64_t> captured_outside{0};
  std::atomic<bool> pipeline_closed{false};
  host.capture.capture_elsewhere([&](std::int64_t team_id, boost::json::object event) {
    if (pipeline_closed) throw std::runtime_error("the server is shutting down: event not captured");
    if (stream) {  // durable, and run by whichever worker holds the person's partition
      std::vector<boost::json::object> one;
      one.push_back(std::move(event));
      bool taken = false;
      try {
        taken = stream->append(team_id, 1, one);
      } catch (const RedisUnavailable& e) {
        throw posthog::RetryError(std::string("event not captured, try later: ") + e.what());
      } catch (const RedisCommandError& e) {
        throw posthog::RetryError(std::string("event not captured, try later: ") + e.what());
      }
      if (!taken) throw posthog::RetryError("the event stream is full (capture answers 503 too): event not captured, try later");
      ++captured_outside;
      return;
    }
    std::size_t current = inflight.load();
    do {
      if (current + 1 > settings.max_inflight_events)
        throw posthog::RetryError("the pipeline is full (capture answers 503 too): event not captured, try later");
    } while (!inflight.compare_exchange_weak(current, current + 1));
    auto const w = owner_of(event, team_id, workers);
    Batch batch;
    batch.items.push_back(WorkItem{std::move(event), team_id, 1});
    batch.events = 1;
    pool.push(w, std::move(batch));
    ++captured_outside;
  });
  struct DetachCapture {  // the pool goes before the team copies, as above
    WorkerCapture& capture;
    ~DetachCapture() { capture.capture_elsewhere({}); }
  } detach_capture{host.capture};

  // Takes all of a request's events or none: the in-flight bound is what keeps
  // memory flat under overload.
  auto submit = [&](CapturedEvents& captured) {
    std::size_t const n = captured.events.size();
    if (stream) {
      try {
        if (!stream->append(captured.team_id, 0, captured.events)) return false;
      } catch (const std::runtime_error& e) {
        // Unreachable, or answering with an error (LOADING after a restart,
        // OOM, READONLY after a failover): either way nothing was taken.
        if (!dynamic_cast<const RedisUnavailable*>(&e) && !dynamic_cast<const RedisCommandError*>(&e)) throw;
        ++refused_unavailable;
        throw CaptureError(503, "redis_unavailable",
                           std::string("the event stream cannot take events now; nothing was taken, retry later (") +
                               e.what() + ")");
      }
      accepted += n;
      return true;
    }
    std::size_t current = inflight.load();
    do {
      if (current + n > settings.max_inflight_events) return false;
    } while (!inflight.compare_exchange_weak(current, current + n));
    std::vector<Batch> parts(workers);
    for (auto& e : captured.events) {
      auto const w = owner_of(e, captured.team_id, workers);
      parts[w].items.push_back(WorkItem{std::move(e), captured.team_id, 0});
      ++parts[w].events;
    }
    for (std::size_t w = 0; w < workers; ++w)
      if (parts[w].events) pool.push(w, std::move(parts[w]));
    accepted += n;
    return true;
  };

  CaptureLimits limits;
  limits.max_decoded_bytes = settings.max_decoded_bytes;
  // A request with more events than the pipeline holds could never be taken:
  // it gets the same 413 as one over the batch limit, never a 503 forever.
  limits.payload.max_events =
      stream ? settings.max_batch_events : std::min(settings.max_batch_events, settings.max_inflight_events);
  limits.payload.max_depth = settings.max_json_depth;
  limits.retry_after_seconds = settings.retry_after_seconds;
  limits.trusted_proxies = settings.trusted_proxies;
  CaptureEndpoint capture_api(
      limits, [&](std::string_view token) { return chains.current()->team_for_token(token); }, submit);
  // With the stream, what bounds capture is the stream's length, not this server's pipeline.
  if (!stream)
    capture_api.refuse_early_when([&] { return inflight.load(std::memory_order_relaxed) >= settings.max_inflight_events; });
  std::unique_ptr<AdminApi> admin;  // before its server: outlives the threads that call it
  std::unique_ptr<HttpServer> server, admin_server;

  // Ready: the store answers, the sink is reachable, not shutting down.
  auto readiness = [&]() -> boost::json::object {
    boost::json::object r{{"teams", chains.current()->team_count()},
                          {"load_errors", refusals.size()},
                          {"inflight_events", inflight.load()}};
    bool ready = !draining.load();
    try {
      auto const backlog = store.backlog_size();
      r["store"] = "open";
      if (forward_sink) {
        auto const s = forward_sink->status();
        r["sink"] = boost::json::object{{"type", "posthog"},
                                        {"reachable", s.reachable},
                                        {"backlog_events", backlog.events},
                                        {"last_error", s.last_error}};
        ready = ready && s.reachable;
      } else {
        r["sink"] = boost::json::object{{"type", "jsonl"}, {"reachable", true}};
      }
    } catch (const StoreError& e) {
      r["store"] = e.what();
      ready = false;
    }
    if (redis) {
      bool const reachable = redis->reachable();
      r["redis"] = boost::json::object{{"url", redis->endpoint().describe()}, {"reachable", reachable}};
      r["role"] = settings.role;
      if (consumer) {
        auto const c = consumer->status();
        boost::json::array partitions;
        for (auto p : c.partitions) partitions.push_back(p);
        r["stream"] = boost::json::object{{"partitions", std::move(partitions)},
                                          {"entries_read", c.entries_read},
                                          {"entries_claimed", c.entries_claimed},
                                          {"entries_acknowledged", c.entries_acknowledged},
                                          {"acknowledgements_waiting", c.acknowledgements_waiting}};
      }
      ready = ready && reachable;
    }
    r["status"] = ready ? "ready" : "not_ready";
    r["ready"] = ready;
    return r;
  };

  auto render_metrics = [&](std::string& text) {
    metrics.render(text);
    host.states.render_metrics(text);
    hot_swap.render_metrics(text, chains);
    render_export_metrics(text, exports);
    render_job_metrics(text, jobs, &schedules);
    auto gauge = [&](const char* name, const char* help, double v) { prometheus_sample(text, name, "gauge", help, v); };
    auto counter = [&](const char* name, const char* help, double v) {
      prometheus_sample(text, name, "counter", help, v);
    };
    gauge("posthog_inflight_events", "Events accepted and not yet in the sink.", static_cast<double>(inflight.load()));
    gauge("posthog_inflight_events_limit", "Over this, capture answers 503.",
          static_cast<double>(settings.max_inflight_events));
    text += "# HELP posthog_worker_queue_batches Batches waiting for each worker.\n"
            "# TYPE posthog_worker_queue_batches gauge\n";
    for (std::size_t w = 0; w < pool.size(); ++w)
      text += "posthog_worker_queue_batches{worker=\"" + std::to_string(w) + "\"} " + std::to_string(pool.depth(w)) + "\n";
    counter("posthog_requests_refused_busy_total", "Capture requests answered 503 (pipeline full).",
            static_cast<double>(capture_api.refused_busy()));
    // Both ports, one metric each with a port label.
    std::pair<const char*, HttpServer*> const ports[] = {{"capture", server.get()}, {"admin", admin_server.get()}};
    auto per_port = [&](const char* name, const char* type, const char* help,
                        std::uint64_t HttpServerStats::*field) {
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
             "Connections over the port's connection cap, answered 503 and closed.",
             &HttpServerStats::refused_connections);
    per_port("posthog_http_accept_errors_total", "counter",
             "accept() failures (out of file descriptors ...), each followed by a pause.",
             &HttpServerStats::accept_errors);
    counter("posthog_sink_write_failures_total", "Batches the sink refused (retried).",
            static_cast<double>(sink_failures.load()));
    if (file_sink)
      counter("posthog_sink_fsync_failures_total", "Interval fsyncs of the JSONL sink that failed.",
              static_cast<double>(file_sink->sync_failures()));
    gauge("posthog_cache_bytes", "Memory held by the plugin cache.", static_cast<double>(host.cache.bytes()));
    counter("posthog_cache_evictions_total", "Cache entries dropped to stay within the memory bound.",
            static_cast<double>(host.cache.evictions()));
    gauge("posthog_plugin_load_errors", "Modules, instances or team copies refused at start.",
          static_cast<double>(refusals.size()));
    if (forward_sink) {
      auto const s = forward_sink->status();
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
    if (redis) {
      gauge("posthog_redis_reachable", "1 when Redis answered PING.", redis->reachable() ? 1 : 0);
      counter("posthog_redis_round_trips_total", "Commands and pipelines sent to Redis by this process.",
              static_cast<double>(RedisConnection::round_trips()));
      counter("posthog_requests_refused_redis_unavailable_total", "Capture requests answered 503 (Redis unreachable).",
              static_cast<double>(refused_unavailable.load()));
      counter("posthog_stream_bad_lines_total", "Lines in the stream that were not events (skipped).",
              static_cast<double>(stream_bad_lines.load()));
    }
    if (consumer) {
      auto const c = consumer->status();
      gauge("posthog_stream_partitions_held", "Stream partitions this worker reads.",
            static_cast<double>(c.partitions.size()));
      counter("posthog_stream_entries_read_total", "Stream entries read (new).", static_cast<double>(c.entries_read));
      counter("posthog_stream_entries_claimed_total", "Stream entries taken over from a worker that died or let go.",
              static_cast<double>(c.entries_claimed));
      counter("posthog_stream_entries_acknowledged_total", "Stream entries acknowledged after the sink.",
              static_cast<double>(c.entries_acknowledged));
      gauge("posthog_stream_acknowledgements_waiting", "Acknowledgements not yet taken by Redis.",
            static_cast<double>(c.acknowledgements_waiting));
    }
    gauge("posthog_resident_memory_bytes", "Resident set size.", static_cast<double>(resident_kib()) * 1024);
  };

  HttpServerOptions http;
  http.host = settings.host;
  http.port = settings.port;
  http.io_threads = settings.io_threads;
  http.max_body_bytes = settings.max_body_bytes;
  // Descriptors kept for everything that is not a capture connection: the
  // admin port's, the store's, the sink's, Redis's and the plugins'.
  std::size_t const admin_connections = 64;
  std::size_t const descriptors = raise_descriptor_limit();
  std::size_t const reserve = 192 + admin_connections + settings.redis_pool_size;
  http.max_connections = connection_cap(settings.max_connections, descriptors, reserve);
  if (http.max_connections < settings.max_connections)
    err.write(diagnostic_line({{"type", "connection_cap"},
                               {"max_connections", http.max_connections},
                               {"message", "serve.max_connections lowered to fit the file descriptor limit (" +
                                               std::to_string(descriptors) + ", " + std::to_string(reserve) +
                                               " kept for the admin port, the store, the sink, Redis and plugins); "
                                               "raise it with ulimit -n"}}));
  auto accept_trouble = [&err](const char* port) {
    return [&err, port](const std::string& message) {
      err.write(diagnostic_line({{"type", "accept_error"}, {"port", port}, {"message", message}}));
    };
  };
  http.on_accept_trouble = accept_trouble("capture");
  try {
    server = std::make_unique<HttpServer>(http, [&](HttpRequest& request) -> HttpResponse {
      if (CaptureEndpoint::serves(request.path)) {
        if (!capturing)
          return json_error(404, "not_capturing", "this server is a worker (serve.role); send events to a capture server");
        return capture_api.handle(request);
      }
      if (request.path == "/_health") return json_ok({{"status", "ok"}});
      if (request.path == "/_ready") {
        auto r = readiness();
        return json_ok(r, r["ready"].as_bool() ? 200 : 503);
      }
      return json_error(404, "not_found", "no such endpoint: " + request.path);
    });
    if (!settings.admin_token.empty()) {
      admin = std::make_unique<AdminApi>(
          AdminContext{settings.admin_token, chains, host.services, store, refusals, render_metrics, readiness,
                       forward_sink.get(), &hot_swap.swap(), &hot_swap.versions(), &exports, &jobs,
                       &schedules, teams,
                       bus ? std::function<void(boost::json::object)>(
                                 [&](boost::json::object m) { bus->publish(std::move(m)); })
                           : nullptr});
      HttpServerOptions admin_http;
      admin_http.host = settings.admin_host;
      admin_http.port = settings.admin_port;
      admin_http.io_threads = 1;
      admin_http.max_connections = admin_connections;
      admin_http.on_accept_trouble = accept_trouble("admin");
      admin_http.max_body_bytes = PluginAttachments::max_bytes + (64 << 10);  // an attachment upload
      admin_server = std::make_unique<HttpServer>(admin_http, [&](HttpRequest& r) { return admin->handle(r); });
    }
  } catch (const std::exception& e) {
    err.write(diagnostic_line({{"type", "listen_error"}, {"message", e.what()}}));
    draining = true;  // a worker retrying a failing sink gives up, so the pool can join
    return 1;
  }
  auto url_of = [](const std::string& host, std::uint16_t port) {
    return "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  };
  boost::json::object listening{{"type", "listening"},
                                {"url", url_of(settings.host, server->port())},
                                {"sink", forward_sink ? settings.sink_url : settings.sink_path.string()},
                                {"store", settings.store_path.string()},
                                {"redis", redis ? boost::json::value(redis->endpoint().describe()) : nullptr},
                                {"workers", workers},
                                {"role", settings.role},
                                {"io_threads", settings.io_threads}};
  listening["admin_url"] = admin_server ? boost::json::value(url_of(settings.admin_host, admin_server->port()))
                                        : boost::json::value(nullptr);
  if (bus)
    bus->start(cluster_handler(chains, *teams, host.services, hot_swap, err), [&err, &bus] {
      err.write(diagnostic_line({{"type", "cluster_listening"}, {"server_id", bus->server_id()}}));
    });
  // A hook call past the hard timeout is reported while it still runs.
  CallWatchdog watchdog(host.states, log);
  watchdog.start();
  setup_retries.start();
  // A capture server runs no hook on events, so no jobs, schedules or exports either.
  if (working) {
    exports.start();
    jobs.start();
    schedules.start(&jobs);
  }
  if (consumer) consumer->start([&] { return inflight.load(std::memory_order_relaxed) < settings.max_inflight_events; });
  out.write(diagnostic_line(listening));

  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    hot_swap.reload_changed("SIGHUP");  // every plugin whose file changed
  }
  err.write(diagnostic_line({{"type", "shutdown"}, {"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}}));

  // Stop taking requests, answer those already read, then drain the pipeline.
  draining = true;
  server->stop();
  server->wait();
  // Everything that may run plugin hooks outside the workers, and so capture
  // into the pipeline, stops first: the admin API and the folder watch (swaps),
  // schedules, jobs (a running job is finished; what is queued stays in the
  // store) and exports (what is pending stays in the store for the next start).
  if (admin_server) {
    admin_server->stop();
    admin_server->wait();
  }
  if (bus) bus->stop();
  hot_swap.stop_watching();
  setup_retries.stop();
  schedules.stop();
  jobs.stop();
  exports.stop();
  if (consumer) consumer->stop_reading();  // what it read runs through; the rest stays in the stream
  pipeline_closed = true;
  pool.close_and_join();
  if (consumer) consumer->finish(std::chrono::seconds(5));
  if (forward_sink) forward_sink->drain(std::chrono::seconds(settings.sink_drain_seconds));
  else sink->flush();

  std::uint64_t written = 0, dropped = 0, errors = 0, captured_total = 0;
  for (auto const& r : runners) {
    written += r->written();
    dropped += r->stats().dropped;
    errors += r->stats().plugin_errors + r->stats().illegal_team_changes;
    captured_total += r->captured();
  }
  captured_total += captured_outside.load();
  double const seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  boost::json::object summary{{"type", "summary"},
                              {"accepted", accepted.load()},
                              {"out", written},
                              {"dropped", dropped},
                              {"errors", errors},
                              {"captured", captured_total},
                              {"refused_busy_requests", capture_api.refused_busy()},
                              {"events_lost_by_the_sink", events_lost.load()},
                              {"load_errors", refusals.size()},
                              {"seconds", seconds},
                              {"cpu_seconds", cpu_seconds()},
                              {"peak_rss_kib", peak_resident_kib()}};
  if (redis) summary["redis_round_trips"] = RedisConnection::round_trips();
  if (forward_sink) {
    auto const s = forward_sink->status();
    summary["delivered"] = s.delivered_events;
    summary["backlog_events"] = s.backlog.events;
  }
  err.write(diagnostic_line(summary));
  // The log observers write to the store: stop them before it closes.
  log.observe({}, {});
  return events_lost.load() ? 1 : 0;
}

}  // namespace posthog::server
