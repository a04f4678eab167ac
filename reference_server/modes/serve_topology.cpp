#include "serve_topology.hpp"

#include <posthog/errors.hpp>

#include <algorithm>

#include "stores/store_job_queue.hpp"
#include "stores/store_export_queue.hpp"
#include "log/log_record.hpp"
#include "log/partitioner.hpp"
#include "log/redis_stream_log.hpp"
#include "log/segment_log.hpp"
#include "common/json_lines.hpp"
#include "stores/redis/redis_export_queue.hpp"
#include "stores/redis/redis_job_queue.hpp"
#include "stores/redis/redis_schedule_lock.hpp"
#include "stores/redis/redis_team_registry.hpp"
#include "cluster_follow.hpp"
#include "diagnostics.hpp"
#include "serve_log.hpp"
#include "serve_ports.hpp"
#include "process_memory.hpp"
#include "stored_teams.hpp"
#include "health/shared_crashes.hpp"
#include "health/worker_crash.hpp"
#include "log/remote_log.hpp"

namespace posthog::server {
namespace {

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

}  // namespace

ServeTopology::ServeTopology(const ServerConfig& file_config, const ServeSettings& settings,
                             const ServeOptions& options)
    : settings_(settings),
      supervised_(options.supervised),
      started_(std::chrono::steady_clock::now()),
      out_(options.output_fd),
      err_(options.error_fd),
      store_(settings.store_path),  // throws StoreError (a runtime_error) naming the file
      storage_(store_),
      metrics_(worker_count(settings.workers)),
      host_(options.max_capture_depth, settings.cache_max_bytes, settings.health) {
  host_.services.storage = &storage_;
  host_.services.metrics = &metrics_;
  host_.services.app_metrics = &app_metrics_;
  // With Redis, meta.cache and meta.storage are shared by every server that
  // points at it. Unreachable at start is not fatal: plugin calls fail with
  // the reason, /_ready says so, and the pool reconnects when it is back.
  if (!settings.redis_url.empty()) {
    redis_ = std::make_unique<RedisPool>(RedisEndpoint::parse(settings.redis_url), settings.redis_pool_size,
                                         std::chrono::milliseconds(settings.redis_timeout_ms));
    redis_cache_ = std::make_unique<RedisCache>(*redis_, settings.redis_prefix);
    redis_storage_ = std::make_unique<RedisStorage>(*redis_, settings.redis_prefix);
    host_.services.cache = redis_cache_.get();
    host_.services.storage = redis_storage_.get();
    err_.write(diagnostic_line({{"type", "redis"},
                                {"url", redis_->endpoint().describe()},
                                {"reachable", redis_->reachable()},
                                {"role", settings.role},
                                {"serves", "meta.cache, meta.storage, teams, plugin reloads, the event stream"}}));
  }
  int const print_level = level_number(settings.log_level);
  host_.log.observe(
      [this, print_level](const PluginLogLine& l) {
        store_.append_log(l);
        if (l.level >= print_level) err_.write(plugin_log_line(l));
      },
      [this](const PluginErrorRecord& e) {
        store_.append_error(e);
        // Errors are written in groups; a crash record is written at once,
        // since the next crash may end this process before the group is.
        if (e.kind == "plugin_crash") store_.flush_logs();
        err_.write(plugin_error_line(e));
      });

  // A supervised worker: what crashed the workers before it is quarantined
  // and charged before any plugin is set up (health/worker_crash.hpp).
  if (supervised_) {
    apply_crashes(host_.states, supervised_->crashes, supervised_->fresh_crashes);
    for (auto const& c : supervised_->crashes) known_crashes_.insert(boost::json::serialize(c.to_json()));
    quarantined_calls_ = known_crashes_.size();
  }

  // Jobs and schedules: kept in the store (or Redis, one queue and one lock
  // for the whole cluster), run on threads of their own. The runner exists
  // before the plugins are set up, so setup_team can queue jobs.
  if (redis_) {
    job_queue_ = std::make_unique<RedisJobQueue>(*redis_, settings.redis_prefix,
                                                 std::chrono::seconds(settings.job_visibility_seconds));
    // 30 s of the jobs' clock: a holder that died delays a period by that much at most.
    schedule_lock_ = std::make_unique<RedisScheduleLock>(
        *redis_, settings.redis_prefix, std::chrono::milliseconds(std::max(30'000u / settings.job_clock_speed, 1'000u)));
  } else {
    job_queue_ = std::make_unique<StoreJobQueue>(store_);
    schedule_lock_ = std::make_unique<StoreScheduleLock>(store_);
  }
  JobPolicy job_policy;
  job_policy.threads = settings.job_threads;
  job_policy.max_retries = static_cast<int>(settings.job_max_retries);
  job_policy.retry_base = std::chrono::seconds(settings.job_retry_base_seconds);
  jobs_ = std::make_unique<JobRunner>(*job_queue_, host_.chains, host_.log, job_policy, job_clock(settings));
  jobs_link_ = std::make_unique<ServiceLink<JobSink>>(host_.services.jobs, jobs_.get());
  teams_ = &store_;
  if (redis_) {
    redis_teams_ = std::make_unique<RedisTeamRegistry>(*redis_, settings.redis_prefix);
    teams_ = redis_teams_.get();
  }
  // A setup_team that fails at start is tried again later, as PostHog did.
  setup_retries_ = std::make_unique<SetupRetries>(
      host_.chains, host_.services,
      SetupRetryPolicy{static_cast<int>(settings.setup_max_attempts),
                       std::chrono::milliseconds(settings.setup_retry_base_ms)});
  setup_retries_link_ = std::make_unique<ServiceLink<SetupRetries>>(host_.services.setup_retries, setup_retries_.get());
  host_.build(with_stored_teams(file_config, *teams_, err_));
  report_load_errors(err_, host_.refusals);
  // With Redis, a team change or a hot swap made on one server reaches the
  // others. Made before the hot swap, whose watch thread may announce through it.
  if (redis_)
    bus_ = std::make_unique<ClusterBus>(*redis_, redis_->endpoint(), settings.redis_prefix, [this](const std::string& what) {
      err_.write(diagnostic_line({{"type", "cluster_error"}, {"message", what}}));
    });
  hot_swap_ = std::make_unique<HotSwap>(file_config, host_, err_);
  if (bus_) {
    hot_swap_->swap().on_swapped([this](const std::string& plugin, const PluginModule& serving, std::string_view trigger) {
      if (trigger == "cluster") return;  // followed, not made here: the others were told by whoever made it
      bus_->publish({{"type", "plugin"}, {"name", plugin}, {"hash", serving.content_hash()}, {"version", serving.version()}});
    });
  }
  // export_events: queued by the pipeline once the sink has the events, handed over by a thread.
  if (redis_)
    export_queue_ = std::make_unique<RedisExportQueue>(*redis_, settings.redis_prefix,
                                                       std::chrono::seconds(settings.job_visibility_seconds));
  else
    export_queue_ = std::make_unique<StoreExportQueue>(store_);
  ExportPolicy export_policy;
  export_policy.buffer_bytes = settings.export_buffer_bytes;
  export_policy.buffer_age = std::chrono::seconds(settings.export_buffer_seconds);
  export_policy.max_retries = static_cast<int>(settings.export_max_retries);
  export_policy.retry_base = std::chrono::seconds(settings.export_retry_base_seconds);
  exports_ = std::make_unique<ExportRunner>(*export_queue_, host_.chains, host_.log, export_policy);
  schedules_ = std::make_unique<Scheduler>(*job_queue_, host_.chains, *schedule_lock_, host_.log, job_clock(settings));

  // The sink.
  if (settings.sink_type == "posthog") {
    ForwardOptions forward;
    forward.url = settings.sink_url;
    forward.api_key = settings.sink_api_key;
    forward.batch_events = settings.sink_batch_events;
    forward.max_backlog_events = settings.sink_max_backlog_events;
    forward_sink_ = std::make_unique<PosthogForwardSink>(
        forward, store_,
        [this](std::int64_t team_id) {
          auto const set = host_.chains.current();
          auto const* team = set->team(team_id);
          return team ? team->token : std::string();
        },
        [this](const std::string& line) { err_.write(line); });
    sink_ = forward_sink_.get();
  } else {
    file_sink_ = std::make_unique<JsonlFileSink>(settings.sink_path, JsonlFileSink::parse_policy(settings.sink_fsync));
    sink_ = file_sink_.get();
    if (file_sink_->torn_bytes())
      err_.write(diagnostic_line({{"type", "sink_torn_line"},
                                  {"bytes", file_sink_->torn_bytes()},
                                  {"message", "the sink file ended in a line a crash left unfinished: cut (its events "
                                              "were not committed, and are written again from the event log)"}}));
  }

  // The event log: where capture puts what it accepts, and where the pipeline
  // takes it from. The embedded segments on one server; Redis Streams for a cluster.
  auto report = [this](const char* type, const std::string& message) {
    err_.write(diagnostic_line({{"type", type}, {"message", message}}));
  };
  if (redis_) {
    stream_log_ = open_stream_log(*redis_, settings, bus_->server_id(), report);
    log_ = stream_log_.get();
    if (working()) reader_ = stream_log_.get();
  } else if (supervised_) {
    // The supervisor owns the segments; batches come over the channel.
    log_ = supervised_->log;
    reader_ = supervised_->log;
  } else {
    segment_log_ = open_segment_log(settings, [this] { sink_->sync(); }, err_);
    log_ = segment_log_.get();
    reader_ = segment_log_.get();
  }

  // The pipeline: one runner, whatever the log.
  RunnerPolicy policy;
  policy.workers = worker_count(settings.workers);
  RunnerHooks hooks;
  hooks.about_to_sink = [this](const LogBatch& b) { reader_->about_to_sink(b); };
  hooks.done = [this](LogBatch& b) { reader_->commit(b); };
  hooks.redeliver = [this](LogBatch& b) { return reader_->redeliver(b); };
  hooks.room = [this] { reader_->wake(); };
  hooks.report = [this](boost::json::object o) { err_.write(diagnostic_line(o)); };
  hooks.timings = [this](std::size_t i) { return metrics_.worker_timings(static_cast<unsigned>(i)); };
  hooks.exports = exports_.get();
  runner_ = std::make_unique<PipelineRunner>(host_.chains, host_.log, *sink_, policy, std::move(hooks));

  // Events a job, a schedule or an export captures (meta.capture outside any
  // worker) go into the log like a request's, durably.
  host_.capture.capture_elsewhere(
      [this](std::int64_t team_id, boost::json::object event) { capture_elsewhere(team_id, std::move(event)); });

  capture_api_ = std::make_unique<CaptureEndpoint>(
      capture_limits(settings),
      [this](std::string_view token) { return host_.chains.current()->team_for_token(token); }, *log_);

  // The ports. Descriptors kept for everything that is not a capture
  // connection: the store's, the sink's, the log's and the plugins'.
  auto const http = capture_port_options(settings, 192, err_);
  try {
    if (!supervised_)  // a supervised worker's capture is its supervisor's
      server_ = std::make_unique<HttpServer>(
          http, capture_routes(*capture_api_, [this] { return capturing(); }, [this] { return readiness(); }));
    if (!settings.admin_token.empty()) {
      AdminContext admin{
          settings.admin_token, host_.chains, host_.services, store_, host_.refusals,
          [this](std::string& text) { render_metrics(text); }, [this] { return readiness(); }, forward_sink_.get(),
          &hot_swap_->swap(), &hot_swap_->versions(), exports_.get(), jobs_.get(), schedules_.get(), teams_,
          bus_ ? std::function<void(boost::json::object)>([this](boost::json::object m) { bus_->publish(std::move(m)); })
               : nullptr};
      admin.capture_refusals = [this] { return capture_api_->refused_busy() + capture_api_->refused_unavailable(); };
      admin.max_sessions = settings.admin_max_sessions;
      admin.session_lifetime = std::chrono::seconds(settings.admin_session_seconds);
      admin_ = std::make_unique<AdminApi>(std::move(admin));
      admin_server_ = std::make_unique<HttpServer>(admin_port_options(settings, 1, err_),
                                                   [this](HttpRequest& r) { return admin_->handle(r); });
    }
  } catch (const std::exception& e) {
    err_.write(diagnostic_line({{"type", "listen_error"}, {"message", e.what()}}));
    draining_ = true;
    throw;
  }
  capture_port_ = server_.get();
  admin_port_ = admin_server_.get();

  // Start: the watchers, the background runners, the reader, then say so.
  boost::json::object listening{{"type", "listening"},
                                {"url", server_ ? boost::json::value(url_of(settings.host, server_->port()))
                                                : boost::json::value(nullptr)},
                                {"sink", forward_sink_ ? settings.sink_url : settings.sink_path.string()},
                                {"store", settings.store_path.string()},
                                {"log", redis_ ? boost::json::value("redis") : boost::json::value(settings.log_dir.string())},
                                {"redis", redis_ ? boost::json::value(redis_->endpoint().describe()) : nullptr},
                                {"workers", runner_->workers()},
                                {"role", settings.role},
                                {"io_threads", settings.io_threads}};
  listening["admin_url"] = admin_server_ ? boost::json::value(url_of(settings.admin_host, admin_server_->port()))
                                         : boost::json::value(nullptr);
  if (bus_)
    bus_->start(cluster_handler(host_.chains, *teams_, host_.services, *hot_swap_, err_), [this] {
      err_.write(diagnostic_line({{"type", "cluster_listening"}, {"server_id", bus_->server_id()}}));
    });
  // A hook call past the hard timeout is reported while it still runs (a
  // supervised worker's supervisor ends the worker instead).
  if (!supervised_) {
    watchdog_ = std::make_unique<CallWatchdog>(host_.states, host_.log);
    watchdog_->start();
  }
  setup_retries_->start();
  if (supervised_ && redis_)
    shared_crashes_.start(
        [this] {
          learn_shared_crashes();
          return std::chrono::milliseconds(1000);
        },
        [this](const std::exception& e) {
          err_.write(diagnostic_line({{"type", "redis_error"}, {"message", std::string("worker crashes: ") + e.what()}}));
        },
        std::chrono::milliseconds(1000));
  // A capture server runs no hook on events, so no jobs, schedules or exports either.
  if (working()) {
    exports_->start();
    jobs_->start();
    schedules_->start(jobs_.get());
  }
  if (reader_) {
    std::size_t const max_inflight = settings.max_inflight_events;
    reader_->start([this](LogBatch&& batch) {
      RunnerBatch b;
      b.partition = batch.partition;
      b.log = std::move(batch);
      runner_->push(std::move(b));
    },
                   [this, max_inflight] {
                     auto const n = runner_->in_flight();
                     return n == 0 || n < max_inflight;
                   });
  }
  if (supervised_) {
    listening["type"] = "ready";
    listening["admin_port"] = admin_server_ ? admin_server_->port() : 0;
    listening["tokens"] = tokens();
    supervised_->report(std::move(listening));
  } else {
    out_.write(diagnostic_line(listening));
  }
}

void ServeTopology::learn_shared_crashes() {
  for (auto& c : load_worker_crashes(*redis_, settings_.redis_prefix)) {
    c.forgiven = false;  // compared as written by the supervisor that kept it
    if (!known_crashes_.insert(boost::json::serialize(c.to_json())).second) continue;
    // Another server's: quarantined here too; its health is that server's.
    host_.states.of(c.team_id, c.plugin).quarantine({c.subject, c.hook, c.cause});
  }
  quarantined_calls_ = known_crashes_.size();
}

boost::json::object ServeTopology::tokens() const {
  boost::json::object out;
  auto const set = host_.chains.current();
  for (auto const& [token, team] : set->tokens()) out[token] = team;
  return out;
}

ServeTopology::~ServeTopology() {
  // Whatever still captures (a teardown hook) fails with a clear error from
  // here on, instead of reaching a log that is going away.
  host_.capture.capture_elsewhere({});
}

void ServeTopology::capture_elsewhere(std::int64_t team_id, boost::json::object event) {
  if (pipeline_closed_) throw std::runtime_error("the server is shutting down: event not captured");
  std::string_view distinct_id;
  if (auto const* d = event.if_contains("distinct_id"); d && d->is_string()) distinct_id = d->get_string();
  LogRecordWriter writer(RecordKind::formed, team_id, 1);
  JsonBuffer text;
  append_json_line(text, event);
  writer.add(text.view().substr(0, text.view().size() - 1));  // without its newline
  std::vector<LogAppend> record{{partition_of(team_id, distinct_id, log_->partitions()), writer.finish(), 1}};
  try {
    log_->append(record);
  } catch (const LogFull& e) {
    throw posthog::RetryError(std::string("event not captured, try later: ") + e.what());
  } catch (const LogUnavailable& e) {
    throw posthog::RetryError(std::string("event not captured, try later: ") + e.what());
  }
  ++captured_outside_;
}

int ServeTopology::shutdown(const char* signal_name) {
  err_.write(diagnostic_line({{"type", "shutdown"}, {"signal", signal_name}}));
  quiesce();
  return finish();
}

void ServeTopology::quiesce() {
  // Stop taking requests, answer those already read.
  draining_ = true;
  close_port(server_.get());
  // Everything that may run plugin hooks outside the pipeline, and so capture
  // into the log, stops next: the admin API and the folder watch (swaps),
  // schedules, jobs (a running job is finished; what is queued stays in the
  // store) and exports (what is pending stays in the store for the next start).
  close_port(admin_server_.get());
  if (bus_) bus_->stop();
  shared_crashes_.stop();
  hot_swap_->stop_watching();
  setup_retries_->stop();
  schedules_->stop();
  jobs_->stop();
  exports_->stop();
  pipeline_closed_ = true;
}

int ServeTopology::finish() {
  // The log drains through the pipeline into the sink (a stream stops reading:
  // the other workers take the rest), then the pipeline closes.
  // A sink that keeps failing is given up on after a few tries from here on:
  // those events stay in the log for the next start.
  runner_->closing();
  if (reader_) reader_->stop(std::chrono::seconds(60), [this] { return runner_->in_flight() == 0; });
  runner_->close_and_join();
  if (reader_) reader_->finish(std::chrono::seconds(5));
  if (forward_sink_) forward_sink_->drain(std::chrono::seconds(settings_.sink_drain_seconds));
  else sink_->flush();

  auto const stats = runner_->stats();
  auto const log = log_->status();
  double const seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  boost::json::object summary{{"type", "summary"},
                              {"accepted", log.appended_events},
                              {"out", stats.out},
                              {"dropped", stats.dropped},
                              {"errors", stats.plugin_errors},
                              {"captured", stats.captured + captured_outside_.load()},
                              {"malformed", stats.malformed},
                              {"refused_busy_requests", capture_api_->refused_busy()},
                              {"refused_unavailable_requests", capture_api_->refused_unavailable()},
                              {"events_left_in_log", segment_log_ ? log.pending_events : stats.left_in_log},
                              {"redelivered_events", log.redelivered_events},
                              {"log_fsyncs", log.fsyncs},
                              {"load_errors", host_.refusals.size()},
                              {"seconds", seconds},
                              {"cpu_seconds", cpu_seconds()},
                              {"peak_rss_kib", peak_resident_kib()}};
  if (redis_) summary["redis_round_trips"] = RedisConnection::round_trips();
  if (forward_sink_) {
    auto const s = forward_sink_->status();
    summary["delivered"] = s.delivered_events;
    summary["backlog_events"] = s.backlog.events;
  }
  if (supervised_) supervised_->report(summary);  // the supervisor's summary says it
  else err_.write(diagnostic_line(summary));
  // Events that could not reach the sink stay in the log for the next start:
  // nothing is lost, but the drain was not complete.
  return summary["events_left_in_log"].as_uint64() ? 1 : 0;
}

boost::json::object ServeTopology::readiness() {
  boost::json::object r{{"teams", host_.chains.current()->team_count()},
                        {"load_errors", host_.refusals.size()},
                        {"inflight_events", runner_ ? runner_->in_flight() : 0}};
  bool ready = !draining_.load();
  try {
    auto const backlog = store_.backlog_size();
    r["store"] = "open";
    if (forward_sink_) {
      auto const s = forward_sink_->status();
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
  log_->describe(r);
  // A log that cannot take events makes capture answer 503: not ready, and why.
  if (capturing()) ready = ready && log_->status().writable;
  if (redis_) {
    bool const reachable = redis_->reachable();
    r["redis"] = boost::json::object{{"url", redis_->endpoint().describe()}, {"reachable", reachable}};
    r["role"] = settings_.role;
    ready = ready && reachable;
  }
  if (supervised_) r["quarantined_calls"] = quarantined_calls_.load();
  r["status"] = ready ? "ready" : "not_ready";
  r["ready"] = ready;
  return r;
}

}  // namespace posthog::server
