#include "serve_mode.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "../capture/capture_endpoint.hpp"
#include "../http/http_server.hpp"
#include "../pipeline/chain_worker.hpp"
#include "../pipeline/partitioned_workers.hpp"
#include "../sinks/fd_writer.hpp"
#include "../sinks/jsonl_file_sink.hpp"
#include "diagnostics.hpp"
#include "embedded_plugin_host.hpp"
#include "process_memory.hpp"

namespace posthog::server {
namespace {

std::size_t owner_of(const boost::json::object& event, std::int64_t team_id, std::size_t workers) {
  std::size_t h = std::hash<std::int64_t>{}(team_id) * 0x9e3779b97f4a7c15ull;
  if (auto const* d = event.if_contains("distinct_id"); d && d->is_string())
    h ^= std::hash<std::string_view>{}(d->get_string());
  return (h ^ (h >> 29)) % workers;
}

HttpResponse json_ok(boost::json::object body) {
  HttpResponse r;
  r.body = boost::json::serialize(body);
  return r;
}

}  // namespace

int run_serve_mode(const ServerConfig& config, const ServeSettings& settings, const ServeOptions& options) {
  // Every thread started from here on inherits a mask without SIGTERM/SIGINT:
  // only this thread receives them, in sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto const started = std::chrono::steady_clock::now();
  FdWriter out(options.output_fd), err(options.error_fd);
  EmbeddedPluginHost host(options.max_capture_depth);
  host.build(config);
  auto const& chains = host.chains;
  auto const& refusals = host.refusals;
  auto& log = host.log;
  report_load_errors(err, refusals);
  stream_plugin_log(log, err);

  JsonlFileSink sink(settings.sink_path, JsonlFileSink::parse_policy(settings.sink_fsync));

  unsigned const workers = worker_count(settings.workers);
  std::vector<std::unique_ptr<ChainWorker>> runners;
  for (unsigned i = 0; i < workers; ++i) runners.push_back(std::make_unique<ChainWorker>(*chains, log));
  std::atomic<std::size_t> inflight{0};
  std::atomic<std::uint64_t> accepted{0}, refused_busy{0}, events_lost{0};  // events_lost: by a sink that never recovered
  std::atomic<bool> draining{false};

  using Batch = std::vector<WorkItem>;
  PartitionedWorkers<Batch> pool(workers, settings.max_inflight_events, [&](std::size_t i, Batch& batch) {
    ChainWorker& w = *runners[i];
    w.begin_batch();
    for (auto& item : batch) w.run(std::move(item));
    // A sink that fails (disk full) holds the batch: retried with backoff, the
    // in-flight bound fills and clients get 503 instead of losing events. Only
    // when draining at shutdown does it give up, after a few tries, and count
    // the loss.
    for (int attempt = 1;; ++attempt) {
      try {
        sink.write(w.output().view());
        break;
      } catch (const std::exception& e) {
        err.write(diagnostic_line(
            {{"type", "sink_error"}, {"message", e.what()}, {"events", batch.size()}, {"attempt", attempt}}));
        if (draining && attempt >= 3) {
          events_lost += batch.size();
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5000, 100 << std::min(attempt, 6))));
      }
    }
    w.after_sink();
    inflight.fetch_sub(batch.size());
  });

  // Takes all of a request's events or none: the in-flight bound is what keeps
  // memory flat under overload.
  auto submit = [&](CapturedEvents& captured) {
    std::size_t const n = captured.events.size();
    std::size_t current = inflight.load();
    do {
      if (current + n > settings.max_inflight_events) {
        ++refused_busy;
        return false;
      }
    } while (!inflight.compare_exchange_weak(current, current + n));
    std::vector<Batch> parts(workers);
    for (auto& e : captured.events) {
      auto const w = owner_of(e, captured.team_id, workers);
      parts[w].push_back(WorkItem{std::move(e), captured.team_id, 0});
    }
    for (std::size_t w = 0; w < workers; ++w)
      if (!parts[w].empty()) pool.push(w, std::move(parts[w]));
    accepted += n;
    return true;
  };

  CaptureLimits limits{settings.max_decoded_bytes, settings.retry_after_seconds, settings.trusted_proxies};
  CaptureEndpoint capture_api(limits, [&](std::string_view token) { return chains->team_for_token(token); }, submit);

  HttpServerOptions http;
  http.host = settings.host;
  http.port = settings.port;
  http.io_threads = settings.io_threads;
  http.max_body_bytes = settings.max_body_bytes;
  std::unique_ptr<HttpServer> server;
  try {
    server = std::make_unique<HttpServer>(http, [&](HttpRequest& request) -> HttpResponse {
      if (CaptureEndpoint::serves(request.path)) return capture_api.handle(request);
      if (request.path == "/_health") return json_ok({{"status", "ok"}});
      if (request.path == "/_ready")
        return json_ok({{"status", "ready"}, {"teams", chains->team_count()}, {"load_errors", refusals.size()},
                        {"inflight_events", inflight.load()}});
      return json_error(404, "not_found", "no such endpoint: " + request.path);
    });
  } catch (const std::exception& e) {
    err.write(diagnostic_line({{"type", "listen_error"}, {"message", e.what()}}));
    return 1;
  }
  std::string const url = "http://" + (settings.host.find(':') != std::string::npos ? "[" + settings.host + "]" : settings.host) +
                          ":" + std::to_string(server->port());
  out.write(diagnostic_line({{"type", "listening"}, {"url", url}, {"sink", settings.sink_path.string()},
                             {"workers", workers}, {"io_threads", settings.io_threads}}));

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  err.write(diagnostic_line({{"type", "shutdown"}, {"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}}));

  // Stop taking requests, answer those already read, then drain the pipeline.
  server->stop();
  server->wait();
  draining = true;
  pool.close_and_join();
  sink.flush();

  std::uint64_t written = 0, dropped = 0, errors = 0, captured_total = 0;
  for (auto const& r : runners) {
    written += r->written();
    dropped += r->stats().dropped;
    errors += r->stats().plugin_errors + r->stats().illegal_team_changes;
    captured_total += r->captured();
  }
  double const seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  err.write(diagnostic_line({{"type", "summary"},
                             {"accepted", accepted.load()},
                             {"out", written},
                             {"dropped", dropped},
                             {"errors", errors},
                             {"captured", captured_total},
                             {"refused_busy_requests", refused_busy.load()},
                             {"events_lost_by_the_sink", events_lost.load()},
                             {"load_errors", refusals.size()},
                             {"seconds", seconds},
                             {"cpu_seconds", cpu_seconds()},
                             {"peak_rss_kib", peak_resident_kib()}}));
  return events_lost.load() ? 1 : 0;
}

}  // namespace posthog::server
