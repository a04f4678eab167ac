// WorkerSupervisor: serve mode with serve.isolation: process (the default).
//
//   clients -> capture (HTTP) -> the event log ----batches----> worker process:
//                                   ^    |   <---commits-----   chains, sink, exports,
//   operators -> admin port (proxy) |    |                      jobs, schedules, store,
//                                   |    '-- hook-call table    admin API (private port)
//                                   '----- meta.capture appends
//
// The supervisor runs no plugin code. It owns what must outlive a plugin's
// crash: capture, the log and the ports. The worker process (worker_process.hpp)
// is a whole serve topology without capture, fed over a LogChannel. When it
// dies (a signal, an abort, the memory limit) or a hook runs past the hard
// timeout (then the supervisor kills it), the supervisor
//
//   - reads from the worker's hook-call table which call did it (team,
//     plugin, hook, event uuid and log position) and records a plugin crash
//     (a diagnostic line, /metrics, GET /api/isolation);
//   - delivers again everything the worker had not committed: a batch is
//     committed only after its sink write, and a dying worker finishes a
//     batch it was handing out before it goes, so each event reaches the sink
//     exactly once;
//   - starts a new worker with every crash so far (worker_crash.hpp): the
//     event is skipped by the plugin that crashed on it, and the plugin's
//     health is charged (paused; the third pause disables it).
//
// With Redis, capture appends to the stream here, and the worker reads the
// stream itself (its consumer group takes over what a dead worker held);
// crashes are kept in Redis too, so that a worker on another server skips the
// plugin for the event as well.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/periodic_task.hpp"
#include "config/serve_settings.hpp"
#include "config/server_config.hpp"
#include "health/worker_crash.hpp"
#include "http/http_server.hpp"
#include "log/event_log.hpp"
#include "sinks/fd_writer.hpp"
#include "sources/capture_endpoint.hpp"
#include "admin_proxy.hpp"
#include "serve_mode.hpp"
#include "worker_process.hpp"

namespace posthog::server {

class SegmentLog;
class RedisPool;
class RedisStreamLog;

class WorkerSupervisor {
 public:
  // Opens the log, starts the first worker and waits until it is ready, then
  // listens. Throws std::runtime_error naming what failed.
  WorkerSupervisor(const ServeSettings& settings, const ServeOptions& options);
  ~WorkerSupervisor();
  WorkerSupervisor(const WorkerSupervisor&) = delete;
  WorkerSupervisor& operator=(const WorkerSupervisor&) = delete;

  // SIGHUP: passed on to the worker (every plugin whose file changed is swapped).
  void reload_changed();
  // SIGTERM or SIGINT: capture stops, the worker stops running hooks outside
  // the pipeline, the log drains through it, then it exits. The exit code.
  int shutdown(const char* signal_name);

 private:
  using Tokens = std::unordered_map<std::string, std::int64_t>;
  struct Sent {
    std::uint64_t end;
    std::size_t events;
  };
  static constexpr std::size_t max_crashes = 1000;  // kept and handed to each worker, newest

  void supervise();  // the thread that starts, watches and restarts workers
  // One worker's life, frame by frame; true when it got ready.
  bool run_worker(const std::shared_ptr<WorkerProcess>& worker);
  void worker_ready(const std::shared_ptr<WorkerProcess>& worker, const boost::json::object& report);
  // Returns how many crashes it found.
  std::size_t worker_died(WorkerProcess& worker, int status, bool was_ready);
  std::vector<WorkerCrash> crashes_of(WorkerProcess& worker, int status);
  void watch_hard_timeouts();
  void on_append(const std::shared_ptr<WorkerProcess>& worker, std::string_view body);
  void set_tokens(const boost::json::object& tokens);
  void refresh_tokens();  // asks the worker, and waits for its answer
  void admin_changed(const HttpRequest& request);
  void deliver(LogBatch&& batch);
  bool has_room() const;
  void sync_worker_sink();
  bool control(const boost::json::object& message);  // false: no worker to tell
  std::optional<boost::json::object> wait_for_report(std::string_view type, std::chrono::milliseconds patience);
  std::optional<std::int64_t> team_for_token(std::string_view token) const;
  void render_metrics(std::string& text);
  boost::json::object isolation() const;
  boost::json::object readiness();
  std::uint16_t worker_admin_port() const noexcept { return worker_admin_port_.load(); }

  const ServeSettings settings_;
  const ServeOptions options_;
  std::string const executable_;
  std::chrono::steady_clock::time_point const started_;
  FdWriter out_, err_;
  std::atomic<bool> draining_{false};

  // The log.
  std::unique_ptr<RedisPool> redis_;
  std::unique_ptr<SegmentLog> segment_log_;
  std::unique_ptr<RedisStreamLog> stream_log_;
  EventLog* log_ = nullptr;

  // The worker, and what it holds.
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::shared_ptr<WorkerProcess> worker_;  // running and ready; null while (re)starting
  std::uint64_t epoch_ = 0;                // the log's delivery epoch the worker was given
  std::map<std::size_t, std::deque<Sent>> sent_;  // per partition, in order, not yet committed
  std::atomic<std::size_t> in_flight_events_{0};  // changed under mutex_, read without by has_room()
  std::atomic<bool> worker_up_{false};              // worker_ set
  std::map<std::uint64_t, std::string> syncs_;  // answers to sink syncs ("" when synced)
  std::uint64_t next_sync_ = 1;
  std::vector<boost::json::object> reports_;  // quiesced, summary: waited for by shutdown
  std::vector<WorkerCrash> crashes_;
  std::size_t heard_crashes_ = 0;  // how many of them the workers so far were given
  std::optional<WorkerCrash> killing_for_;  // a call past the hard timeout: why the worker is being killed
  std::uint64_t restarts_ = 0;
  std::string start_failure_;  // the first worker never got ready: why
  bool quiesced_ = false;      // shutting down: workers run no hooks outside the pipeline
  bool stopped_asked_ = false;
  bool stopping_ = false;
  bool supervisor_done_ = false;
  std::atomic<pid_t> worker_pid_{0};
  std::atomic<std::uint16_t> worker_admin_port_{0};
  // Replaced whole, read per request. A mutex rather than
  // std::atomic<std::shared_ptr>: libstdc++ 12's lock bit is invisible to TSan.
  mutable std::mutex tokens_mutex_;
  std::shared_ptr<const Tokens> tokens_;

  std::thread supervisor_;
  PeriodicTask hard_timeouts_;

  // The ports.
  std::unique_ptr<CaptureEndpoint> capture_;
  std::unique_ptr<AdminProxy> admin_;
  std::unique_ptr<HttpServer> server_, admin_server_;
  // The same, for /metrics: a port's handlers run before the constructor has
  // stored the server they belong to, so they read these, published after.
  std::atomic<const HttpServer*> capture_port_{nullptr}, admin_port_{nullptr};
};

}  // namespace posthog::server
