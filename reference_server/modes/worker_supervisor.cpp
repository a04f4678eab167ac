#include "worker_supervisor.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <filesystem>

#include "common/epoch_ms.hpp"
#include "health/shared_crashes.hpp"
#include "log/redis_stream_log.hpp"
#include "log/segment_log.hpp"
#include "metrics/prometheus_text.hpp"
#include "stores/redis/redis_pool.hpp"
#include "capture_metrics.hpp"
#include "diagnostics.hpp"
#include "serve_log.hpp"
#include "serve_ports.hpp"
#include "process_memory.hpp"

namespace posthog::server {
namespace {

std::string own_executable() {
  std::error_code ec;
  auto const path = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find this executable to start worker processes: " + ec.message());
  return path.string();
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return describe_signal(WTERMSIG(status));
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

// A `sinking` or `committed` frame: which batch, by its partition and end.
LogBatch batch_position(std::string_view body) {
  ChannelReader in(body);
  LogBatch b;
  b.partition = in.u64();
  b.end = in.u64();
  return b;
}

}  // namespace

WorkerSupervisor::WorkerSupervisor(const ServeSettings& settings, const ServeOptions& options)
    : settings_(settings),
      options_(options),
      executable_(own_executable()),
      started_(std::chrono::steady_clock::now()),
      out_(options.output_fd),
      err_(options.error_fd) {
  tokens_ = std::make_shared<const Tokens>();
  auto report = [this](const char* type, const std::string& message) {
    err_.write(diagnostic_line({{"type", type}, {"message", message}}));
  };
  // The log: capture appends here; the worker reads it over the channel
  // (segments) or from Redis itself (a stream).
  if (!settings.redis_url.empty()) {
    redis_ = std::make_unique<RedisPool>(RedisEndpoint::parse(settings.redis_url), settings.redis_pool_size,
                                         std::chrono::milliseconds(settings.redis_timeout_ms));
    stream_log_ = open_stream_log(*redis_, settings, "supervisor/" + std::to_string(::getpid()), report);
    log_ = stream_log_.get();
  } else {
    segment_log_ = open_segment_log(settings, [this] { sync_worker_sink(); }, err_);
    log_ = segment_log_.get();
  }
  if (redis_) {
    try {
      crashes_ = load_worker_crashes(*redis_, settings.redis_prefix);
    } catch (const std::exception& e) {
      report("redis_error", std::string("the crashes kept in Redis could not be read: ") + e.what());
    }
  }

  // The first worker, until it is ready (its plugins set up) or gone.
  supervisor_ = std::thread([this] { supervise(); });
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return worker_ != nullptr || !start_failure_.empty(); });
    if (!start_failure_.empty()) {
      lock.unlock();
      supervisor_.join();
      throw std::runtime_error(start_failure_);
    }
  }
  if (segment_log_) segment_log_->start([this](LogBatch&& b) { deliver(std::move(b)); }, [this] { return has_room(); });
  if (settings.health.enabled)
    hard_timeouts_.start(
        [this] {
          watch_hard_timeouts();
          return std::chrono::milliseconds(100);
        },
        [this](const std::exception& e) {
          err_.write(diagnostic_line({{"type", "supervisor_error"}, {"message", e.what()}}));
        });

  // The ports.
  capture_ = std::make_unique<CaptureEndpoint>(capture_limits(settings),
                                              [this](std::string_view t) { return team_for_token(t); }, *log_);
  // Descriptors kept for what is not a capture connection: the log's, the
  // worker's channel and table, the proxy's connections to the worker.
  auto const http = capture_port_options(settings, 64, err_);
  try {
    server_ = std::make_unique<HttpServer>(
        http, capture_routes(*capture_, [this] { return settings_.role != "worker"; }, [this] { return readiness(); }));
    if (!settings.admin_token.empty()) {
      admin_ = std::make_unique<AdminProxy>(
          settings.admin_token, [this] { return worker_admin_port(); },
          [this](std::string& text) { render_metrics(text); }, [this] { return isolation(); },
          [this](const HttpRequest& r) { admin_changed(r); });
      // Two threads: a long admin call (a reload) does not hold the others.
      admin_server_ = std::make_unique<HttpServer>(admin_port_options(settings, 2, err_),
                                                   [this](HttpRequest& r) { return admin_->handle(r); });
    }
  } catch (const std::exception& e) {
    err_.write(diagnostic_line({{"type", "listen_error"}, {"message", e.what()}}));
    server_.reset();
    shutdown("listen_error");
    throw;
  }
  capture_port_ = server_.get();
  admin_port_ = admin_server_.get();
  boost::json::object listening{{"type", "listening"},
                                {"url", url_of(settings.host, server_->port())},
                                {"sink", settings.sink_type == "posthog" ? settings.sink_url : settings.sink_path.string()},
                                {"store", settings.store_path.string()},
                                {"log", redis_ ? boost::json::value("redis") : boost::json::value(settings.log_dir.string())},
                                {"redis", redis_ ? boost::json::value(redis_->endpoint().describe()) : nullptr},
                                {"role", settings.role},
                                {"io_threads", settings.io_threads},
                                {"isolation", "process"},
                                {"worker_pid", worker_pid_.load()}};
  listening["admin_url"] = admin_server_ ? boost::json::value(url_of(settings.admin_host, admin_server_->port()))
                                         : boost::json::value(nullptr);
  out_.write(diagnostic_line(listening));
}

WorkerSupervisor::~WorkerSupervisor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (worker_) worker_->kill(SIGKILL);
  }
  changed_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
}

// ---- the workers ------------------------------------------------------------

void WorkerSupervisor::supervise() {
  struct Done {
    WorkerSupervisor& s;
    ~Done() {
      std::lock_guard lock(s.mutex_);
      s.supervisor_done_ = true;
      s.changed_.notify_all();
    }
  } done{*this};
  auto pause = std::chrono::milliseconds(100);
  bool ever_ready = false;
  for (;;) {
    std::shared_ptr<WorkerProcess> worker;
    try {
      std::vector<std::string> arguments{"worker", "--config", options_.config_file};
      worker = std::make_shared<WorkerProcess>(executable_, std::move(arguments));
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex_);
      if (!ever_ready) {
        start_failure_ = e.what();
        changed_.notify_all();
        return;
      }
      err_.write(diagnostic_line({{"type", "worker_error"}, {"message", e.what()}}));
    }
    auto const began = std::chrono::steady_clock::now();
    bool ready = false, crashed = false;
    if (worker) {
      worker_pid_ = worker->pid();
      {
        // Every crash so far, before anything else: applied before any plugin is set up.
        std::lock_guard lock(mutex_);
        boost::json::array crashes;
        for (auto const& c : crashes_) crashes.push_back(c.to_json());
        boost::json::object start{{"type", "start"},
                                  {"crashes", std::move(crashes)},
                                  {"fresh", crashes_.size() - std::min(heard_crashes_, crashes_.size())},
                                  {"quiesced", quiesced_}};
        heard_crashes_ = crashes_.size();
        try {
          worker->channel().send(ChannelKind::control, boost::json::serialize(start));
        } catch (const std::exception&) {
          // It died already: found below.
        }
      }
      ready = run_worker(worker);
      ever_ready = ever_ready || ready;
      int const status = worker->wait();
      crashed = worker_died(*worker, status, ready) > 0;
    }
    {
      std::unique_lock lock(mutex_);
      // A plugin set-up that crashed the first worker is refused by the next;
      // a first worker that ended for any other reason (its config, its
      // store) would end the same way again: the server does not start.
      if (!ever_ready && !crashed) {
        start_failure_ = "the worker process ended before it was ready (" +
                         (worker ? describe_status(worker->wait()) : std::string("not started")) + ")";
        changed_.notify_all();
        return;
      }
      if (stopping_) return;
      ++restarts_;
      // A worker that ran a while starts again at once; one that keeps dying waits longer each time.
      if (std::chrono::steady_clock::now() - began > std::chrono::seconds(30)) pause = std::chrono::milliseconds(100);
      changed_.wait_for(lock, pause, [&] { return stopping_; });
      if (stopping_) return;
      pause = std::min(pause * 2, std::chrono::milliseconds(5000));
    }
  }
}

bool WorkerSupervisor::run_worker(const std::shared_ptr<WorkerProcess>& worker) {
  bool ready = false;
  auto& channel = worker->channel();
  for (;;) {
    std::optional<ChannelFrame> frame;
    try {
      frame = channel.receive();
    } catch (const std::exception& e) {
      err_.write(diagnostic_line({{"type", "worker_error"}, {"message", e.what()}}));
    }
    if (!frame) break;
    try {
      switch (frame->kind) {
        case ChannelKind::report: {
          auto report = boost::json::parse(frame->body).as_object();
          auto const type = report["type"].as_string();
          if (type == "ready") {
            ready = true;
            worker_ready(worker, report);
          } else if (type == "tokens") {
            set_tokens(report["tokens"].as_object());
          } else {
            if (type == "tokens_now") set_tokens(report["tokens"].as_object());
            std::lock_guard lock(mutex_);
            reports_.push_back(std::move(report));
            changed_.notify_all();
          }
          break;
        }
        case ChannelKind::sinking: {
          auto b = batch_position(frame->body);
          if (segment_log_) segment_log_->about_to_sink(b);
          break;
        }
        case ChannelKind::committed: {
          auto b = batch_position(frame->body);
          if (!segment_log_) break;
          segment_log_->commit(b);
          {
            std::lock_guard lock(mutex_);
            auto& sent = sent_[b.partition];
            while (!sent.empty() && sent.front().end <= b.end) {
              in_flight_events_ -= std::min(in_flight_events_.load(), sent.front().events);
              sent.pop_front();
            }
          }
          changed_.notify_all();
          segment_log_->wake();
          break;
        }
        case ChannelKind::append:
          on_append(worker, frame->body);
          break;
        case ChannelKind::sink_synced: {
          ChannelReader in(frame->body);
          auto const id = in.u64();
          std::lock_guard lock(mutex_);
          syncs_[id] = std::string(in.text());
          changed_.notify_all();
          break;
        }
        default:
          err_.write(diagnostic_line({{"type", "worker_error"},
                                      {"message", "an unknown frame from the worker: " +
                                                      std::to_string(static_cast<int>(frame->kind))}}));
      }
    } catch (const std::exception& e) {
      err_.write(diagnostic_line({{"type", "worker_error"}, {"message", std::string("a frame from the worker: ") + e.what()}}));
    }
  }
  return ready;
}

void WorkerSupervisor::worker_ready(const std::shared_ptr<WorkerProcess>& worker, const boost::json::object& report) {
  if (auto const* t = report.if_contains("tokens"); t && t->is_object()) set_tokens(t->get_object());
  std::uint16_t port = 0;
  if (auto const* p = report.if_contains("admin_port"); p && p->is_int64()) port = static_cast<std::uint16_t>(p->get_int64());
  {
    std::lock_guard lock(mutex_);
    sent_.clear();
    in_flight_events_ = 0;
  }
  // Everything the workers before this one did not commit, from the start.
  // (The log's lock is never taken under the supervisor's: the log's reader
  // asks has_room() under its own.)
  std::uint64_t epoch = 0;
  if (segment_log_) {
    segment_log_->redeliver_uncommitted();
    epoch = segment_log_->epoch();
  }
  {
    std::lock_guard lock(mutex_);
    epoch_ = epoch;
    worker_ = worker;
    worker_up_ = true;
    worker_admin_port_ = port;
  }
  changed_.notify_all();
  if (segment_log_) segment_log_->wake();
}

void WorkerSupervisor::set_tokens(const boost::json::object& tokens) {
  auto next = std::make_shared<Tokens>();
  for (auto const& [token, team] : tokens)
    if (team.is_int64()) next->emplace(std::string(token), team.get_int64());
  std::lock_guard lock(tokens_mutex_);
  tokens_ = std::move(next);
}

std::optional<std::int64_t> WorkerSupervisor::team_for_token(std::string_view token) const {
  auto const tokens = [&] {
    std::lock_guard lock(tokens_mutex_);
    return tokens_;
  }();
  auto it = tokens->find(std::string(token));
  if (it == tokens->end()) return std::nullopt;
  return it->second;
}

void WorkerSupervisor::on_append(const std::shared_ptr<WorkerProcess>& worker, std::string_view body) {
  ChannelReader in(body);
  auto const id = in.u64();
  auto const count = in.u32();
  std::vector<LogAppend> records(count);
  for (auto& r : records) {
    r.partition = static_cast<std::size_t>(in.u64()) % log_->partitions();
    r.events = in.u32();
    r.payload = std::string(in.text());
  }
  auto answer = [worker, id](std::string_view failure) {
    try {
      worker->channel().send(ChannelKind::appended, ChannelBody().u64(id).text(failure).take());
    } catch (const std::exception&) {
      // The worker is gone; its capture failed with it.
    }
  };
  try {
    log_->append(records, answer);
  } catch (const std::exception& e) {  // LogFull, LogUnavailable
    answer(e.what());
  }
}

void WorkerSupervisor::deliver(LogBatch&& batch) {
  std::shared_ptr<WorkerProcess> worker;
  {
    std::lock_guard lock(mutex_);
    // A batch taken before the last worker died runs again from the log.
    if (!worker_ || batch.epoch != epoch_) return;
    sent_[batch.partition].push_back({batch.end, batch.events});
    in_flight_events_ += batch.events;
    worker = worker_;
  }
  try {
    worker->channel().send(ChannelKind::batch, encode_batch(batch));
  } catch (const std::exception&) {
    // The worker died: the next one gets everything uncommitted.
  }
}

// Asked by the log's reader under the log's lock: no lock of the supervisor's.
bool WorkerSupervisor::has_room() const {
  auto const in_flight = in_flight_events_.load();
  return worker_up_.load() && (in_flight == 0 || in_flight < settings_.max_inflight_events);
}

void WorkerSupervisor::sync_worker_sink() {
  std::shared_ptr<WorkerProcess> worker;
  std::uint64_t id;
  {
    std::lock_guard lock(mutex_);
    if (!worker_) throw std::runtime_error("no worker process is running to sync the sink");
    worker = worker_;
    id = next_sync_++;
  }
  worker->channel().send(ChannelKind::sync_sink, ChannelBody().u64(id).take());
  std::unique_lock lock(mutex_);
  bool const answered = changed_.wait_for(lock, std::chrono::seconds(60), [&] { return syncs_.count(id) || worker_ != worker; });
  if (!answered || !syncs_.count(id)) throw std::runtime_error("the worker process did not sync the sink");
  auto const failure = syncs_[id];
  syncs_.erase(id);
  if (!failure.empty()) throw std::runtime_error("the sink could not be synced: " + failure);
}

// ---- crashes --------------------------------------------------------------

std::vector<WorkerCrash> WorkerSupervisor::crashes_of(WorkerProcess& worker, int status) {
  std::vector<WorkerCrash> found;
  auto const now = epoch_ms_now();
  {
    std::lock_guard lock(mutex_);
    if (killing_for_) {
      found.push_back(std::move(*killing_for_));
      killing_for_.reset();
      return found;
    }
  }
  int const signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  if (auto const crash = HookCalls::crash_in(worker.hook_calls()))
    if (auto const call = HookCalls::slot_in(worker.hook_calls(), crash->slot)) {
      std::string cause = crash->signal == HookCalls::out_of_memory
                              ? "ran the worker out of memory (serve.isolation.memory_limit_mb " +
                                    std::to_string(settings_.isolation_memory_limit_mb) + ")"
                              : describe_signal(crash->signal);
      found.push_back(WorkerCrash::from_call(*call, std::move(cause), now, crash->signal));
      return found;
    }
  // No mark (a stack overflow leaves the handler no stack; a kill from
  // outside): every call in progress is suspect, so none runs again on its subject.
  if (signal)
    HookCalls::for_each_busy_in(worker.hook_calls(), [&](const HookCallSnapshot& call) {
      found.push_back(WorkerCrash::from_call(call, describe_signal(signal) + " while this call was running", now, signal));
    });
  return found;
}

std::size_t WorkerSupervisor::worker_died(WorkerProcess& worker, int status, bool was_ready) {
  {
    std::lock_guard lock(mutex_);
    worker_.reset();
    worker_up_ = false;
    worker_admin_port_ = 0;
    sent_.clear();
    in_flight_events_ = 0;
  }
  changed_.notify_all();
  bool const asked = WIFEXITED(status) && stopped_asked_;
  auto found = asked ? std::vector<WorkerCrash>() : crashes_of(worker, status);
  boost::json::object line{{"type", asked ? "worker_exit" : "worker_died"},
                           {"worker_pid", worker.pid()},
                           {"status", describe_status(status)},
                           {"was_ready", was_ready},
                           {"crashes", found.size()}};
  err_.write(diagnostic_line(line));
  for (auto const& c : found) {
    auto o = c.to_json();
    o["type"] = "plugin_crash";
    o["worker_pid"] = worker.pid();
    err_.write(diagnostic_line(o));
    if (redis_) {
      try {
        keep_worker_crash(*redis_, settings_.redis_prefix, c);
      } catch (const std::exception& e) {
        err_.write(diagnostic_line({{"type", "redis_error"}, {"message", std::string("a crash could not be kept in Redis: ") + e.what()}}));
      }
    }
  }
  std::lock_guard lock(mutex_);
  std::size_t const count = found.size();
  for (auto& c : found) crashes_.push_back(std::move(c));
  if (crashes_.size() > max_crashes) {
    auto const drop = crashes_.size() - max_crashes;
    crashes_.erase(crashes_.begin(), crashes_.begin() + static_cast<std::ptrdiff_t>(drop));
    heard_crashes_ -= std::min(heard_crashes_, drop);
  }
  return count;
}

void WorkerSupervisor::watch_hard_timeouts() {
  std::shared_ptr<WorkerProcess> worker;
  {
    std::lock_guard lock(mutex_);
    if (!worker_ || killing_for_) return;
    worker = worker_;
  }
  auto const limit_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(settings_.health.hard_timeout).count();
  auto const now = HookCalls::steady_ns();
  std::optional<HookCallSnapshot> overdue;
  HookCalls::for_each_busy_in(worker->hook_calls(), [&](const HookCallSnapshot& call) {
    if (!overdue && now - call.started_ns >= limit_ns) overdue = call;
  });
  if (!overdue) return;
  char limit[32];
  std::snprintf(limit, sizeof limit, "%g", static_cast<double>(settings_.health.hard_timeout.count()) / 1e3);
  {
    std::lock_guard lock(mutex_);
    killing_for_ = WorkerCrash::from_call(*overdue, std::string("ran past the hard timeout of ") + limit +
                                                        " s; the worker process was killed",
                                          epoch_ms_now(), SIGKILL);
  }
  // Batches being handed out finish first, so none is half in the sink.
  HookCalls::close_outputs_in(worker->hook_calls(), std::chrono::seconds(5));
  worker->kill(SIGKILL);
}

// ---- control ----------------------------------------------------------------

bool WorkerSupervisor::control(const boost::json::object& message) {
  std::shared_ptr<WorkerProcess> worker;
  {
    std::lock_guard lock(mutex_);
    worker = worker_;
  }
  if (!worker) return false;
  try {
    worker->channel().send(ChannelKind::control, boost::json::serialize(message));
    return true;
  } catch (const std::exception&) {
    return false;  // gone: a new one is told what it needs at its start (quiesced)
  }
}

std::optional<boost::json::object> WorkerSupervisor::wait_for_report(std::string_view type, std::chrono::milliseconds patience) {
  std::unique_lock lock(mutex_);
  auto const found = [&]() -> std::optional<boost::json::object> {
    for (auto it = reports_.begin(); it != reports_.end(); ++it)
      if ((*it)["type"].as_string() == type) {
        auto r = std::move(*it);
        reports_.erase(it);
        return r;
      }
    return std::nullopt;
  };
  std::optional<boost::json::object> report;
  changed_.wait_for(lock, patience, [&] { return (report = found()).has_value(); });
  return report;
}

void WorkerSupervisor::admin_changed(const HttpRequest& request) {
  // POST /api/teams/{id}/plugins/{name}/enable: the crashes of that plugin
  // so far no longer count against its health in the workers to come.
  std::string_view path = request.path;
  constexpr std::string_view teams = "/api/teams/", plugins = "/plugins/", enable = "/enable";
  if (path.rfind(teams, 0) == 0 && path.size() > enable.size() && path.substr(path.size() - enable.size()) == enable) {
    auto const rest = path.substr(teams.size(), path.size() - teams.size() - enable.size());
    auto const cut = rest.find(plugins);
    if (cut != std::string_view::npos) {
      auto const team = std::string(rest.substr(0, cut));
      auto const plugin = rest.substr(cut + plugins.size());
      std::lock_guard lock(mutex_);
      for (auto& c : crashes_)
        if (std::to_string(c.team_id) == team && c.plugin == plugin) c.forgiven = true;
    }
  }
  refresh_tokens();
}

void WorkerSupervisor::refresh_tokens() {
  if (control({{"type", "tokens"}})) wait_for_report("tokens_now", std::chrono::seconds(5));
}

void WorkerSupervisor::reload_changed() { control({{"type", "reload"}}); }

int WorkerSupervisor::shutdown(const char* signal_name) {
  err_.write(diagnostic_line({{"type", "shutdown"}, {"signal", signal_name}}));
  draining_ = true;
  close_port(server_.get());
  close_port(admin_server_.get());
  // Hooks outside the pipeline stop (a worker started from now on starts quiesced).
  {
    std::lock_guard lock(mutex_);
    quiesced_ = true;
  }
  if (control({{"type", "quiesce"}})) wait_for_report("quiesced", std::chrono::seconds(60));
  // The log drains through the worker, then its last commits are made durable.
  if (segment_log_) {
    segment_log_->stop(std::chrono::seconds(60), [this] {
      std::lock_guard lock(mutex_);
      return worker_ != nullptr && in_flight_events_ == 0;
    });
    segment_log_->finish(std::chrono::seconds(5));
  }
  {
    std::lock_guard lock(mutex_);
    stopped_asked_ = true;
    stopping_ = true;
  }
  std::optional<boost::json::object> worker_summary;
  if (control({{"type", "stop"}})) worker_summary = wait_for_report("summary", std::chrono::seconds(90));
  {
    // A worker that did not stop (or was starting) is ended.
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, std::chrono::seconds(10), [&] { return supervisor_done_; }) && worker_pid_ > 0)
      ::kill(worker_pid_, SIGKILL);
  }
  if (supervisor_.joinable()) supervisor_.join();
  hard_timeouts_.stop();

  auto const log = log_->status();
  double const seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  boost::json::object summary{{"type", "summary"},
                              {"accepted", log.appended_events},
                              {"refused_busy_requests", capture_ ? capture_->refused_busy() : 0},
                              {"refused_unavailable_requests", capture_ ? capture_->refused_unavailable() : 0},
                              {"events_left_in_log", segment_log_ ? log.pending_events : 0},
                              {"redelivered_events", log.redelivered_events},
                              {"log_fsyncs", log.fsyncs},
                              {"isolation", "process"},
                              {"worker_restarts", restarts_},
                              {"plugin_crashes", crashes_.size()},
                              {"seconds", seconds},
                              {"supervisor_cpu_seconds", cpu_seconds()},
                              {"supervisor_peak_rss_kib", peak_resident_kib()}};
  if (worker_summary) {
    for (auto const* key : {"out", "dropped", "errors", "captured", "malformed", "load_errors", "cpu_seconds",
                            "peak_rss_kib", "delivered", "backlog_events", "redis_round_trips"})
      if (auto const* v = worker_summary->if_contains(key)) summary[key] = *v;
    if (!segment_log_)
      if (auto const* v = worker_summary->if_contains("events_left_in_log")) summary["events_left_in_log"] = *v;
  } else {
    summary["worker_summary"] = "the worker process did not report one";
  }
  err_.write(diagnostic_line(summary));
  auto const left = summary["events_left_in_log"];
  return (left.is_uint64() && left.get_uint64()) || (left.is_int64() && left.get_int64()) ? 1 : 0;
}

// ---- what operators see -------------------------------------------------------

boost::json::object WorkerSupervisor::isolation() const {
  std::lock_guard lock(mutex_);
  boost::json::array crashes;
  for (auto const& c : crashes_) crashes.push_back(c.to_json());
  return {{"isolation", "process"},
          {"worker_pid", worker_ ? boost::json::value(worker_pid_.load()) : boost::json::value(nullptr)},
          {"worker_up", worker_ != nullptr},
          {"restarts", restarts_},
          {"memory_limit_mb", settings_.isolation_memory_limit_mb},
          {"hard_timeout_ms", settings_.health.hard_timeout.count()},
          {"crashes", std::move(crashes)}};
}

boost::json::object WorkerSupervisor::readiness() {
  auto const log = log_->status();
  // The worker's view first (the store, the sink, the teams, the partitions
  // it reads), then what is the supervisor's to say.
  boost::json::object r;
  bool worker_ready = true;
  if (auto const answer = control({{"type", "readiness"}}) ? wait_for_report("readiness_now", std::chrono::seconds(2))
                                                           : std::nullopt)
    if (auto const* w = answer->if_contains("readiness"); w && w->is_object()) {
      r = w->get_object();
      if (auto const* ok = r.if_contains("ready"); ok && ok->is_bool()) worker_ready = ok->get_bool();
    }
  r["isolation"] = "process";
  {
    std::lock_guard lock(mutex_);
    r["worker_up"] = worker_ != nullptr;
    r["inflight_events"] = in_flight_events_.load();
  }
  log_->describe(r);
  // Capture takes events while the worker restarts: ready is the log's to say.
  bool ready = !draining_.load() && log.writable && worker_ready;
  if (redis_) {
    bool const reachable = redis_->reachable();
    r["redis"] = boost::json::object{{"url", redis_->endpoint().describe()}, {"reachable", reachable}};
    r["role"] = settings_.role;
    ready = ready && reachable;
  }
  r["status"] = ready ? "ready" : "not_ready";
  r["ready"] = ready;
  return r;
}

void WorkerSupervisor::render_metrics(std::string& text) {
  render_capture_metrics(text, *capture_, capture_port_.load(), admin_port_.load(), log_->status(), segment_log_ != nullptr);
  std::vector<WorkerCrash> crashes;
  std::uint64_t restarts;
  bool up;
  {
    std::lock_guard lock(mutex_);
    crashes = crashes_;
    restarts = restarts_;
    up = worker_ != nullptr;
  }
  prometheus_sample(text, "posthog_worker_up", "gauge", "1 while the worker process that runs the plugins is up.",
                    up ? 1 : 0);
  prometheus_sample(text, "posthog_worker_restarts_total", "counter", "Worker processes started again after one ended.",
                    static_cast<double>(restarts));
  // Per (team, plugin, hook): how many calls ended a worker.
  std::map<std::tuple<std::int64_t, std::string, std::string>, std::uint64_t> counts;
  for (auto const& c : crashes) ++counts[{c.team_id, c.plugin, c.hook}];
  prometheus_header(text, "posthog_plugin_crashes_total", "counter",
                    "Hook calls that crashed, hung past the hard timeout or ran out of memory, ending their worker.");
  for (auto const& [key, n] : counts) {
    auto const& [team, plugin, hook] = key;
    text += "posthog_plugin_crashes_total{team=\"" + std::to_string(team) + "\",plugin=\"";
    append_label(text, plugin);
    text += "\",hook=\"";
    append_label(text, hook);
    text += "\"} " + std::to_string(n) + "\n";
  }
  prometheus_sample(text, "posthog_supervisor_resident_memory_bytes", "gauge", "The supervisor's resident set size.",
                    static_cast<double>(resident_kib()) * 1024);
}

}  // namespace posthog::server
