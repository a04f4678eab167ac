// cluster_bench: ingestion through the Redis stream with one and with two
// worker processes, next to the embedded mode, in the same run on this machine.
//
//   build/bin/cluster_bench [events=100000]
//
// Starts a redis-server on a free loopback port, then for each set-up sends the
// same events as /batch/ requests of 100 over two keep-alive clients and times
// how long until every event is in a sink: embedded (one server, no Redis);
// through the stream with one capture server and one worker server; and with
// one capture server and two worker servers; every server runs
// property-filter, whose hooks never call Redis. Then the three again with
// helloworld added, which calls meta.cache.incr for every event (in Redis,
// with Redis: what a plugin's own Redis traffic costs).
// Prints events/s acknowledged and written,
// Redis round trips per event (every process's, from their summaries) and
// each process's peak memory.
#include <httplib.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "raw_http_client.hpp"
#include "redis_server.hpp"
#include "server_runs.hpp"
#include "synthetic_events.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// The chains compared: what their plugins ask of Redis per event differs.
enum class Chain {
  filter_only,      // property-filter: no meta.cache call
  with_helloworld,  // + helloworld: one meta.cache.incr per event
};

void write_config(const fs::path& dir, const std::string& role, const std::string& redis_url, Chain chain) {
  fs::create_directories(dir);
  boost::json::array team_plugins{
      boost::json::object{{"name", "property-filter"}, {"config", {{"properties", "email,$set.email"}}}}};
  if (chain == Chain::with_helloworld) team_plugins.push_back(boost::json::object{{"name", "helloworld"}});
  boost::json::object serve{{"listen", "127.0.0.1:0"},
                            {"role", role},
                            {"store", (dir / "store.db").string()},
                            {"sink", {{"path", (dir / "sink.jsonl").string()}, {"fsync", "interval"}}}};
  if (!redis_url.empty()) serve["redis"] = boost::json::object{{"url", redis_url}};
  boost::json::object config{
      {"plugins_dir", POSTHOG_PLUGINS_DIR},
      {"plugins", {boost::json::object{{"name", "property-filter"}}, boost::json::object{{"name", "helloworld"}}}},
      {"teams", {boost::json::object{{"id", 1}, {"token", "phc_bench"}, {"plugins", team_plugins}}}},
      {"serve", serve}};
  fs::remove_all(dir / "store.db"), fs::remove(dir / "sink.jsonl");
  std::ofstream(dir / "config.json") << boost::json::serialize(config);
}

// Lines written to a sink so far, read incrementally.
class SinkLines {
 public:
  explicit SinkLines(fs::path file) : file_(std::move(file)) {}
  std::size_t count() {
    std::ifstream in(file_, std::ios::binary);
    if (!in) return lines_;
    in.seekg(static_cast<std::streamoff>(offset_));
    char buffer[1 << 16];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
      auto const got = static_cast<std::size_t>(in.gcount());
      for (std::size_t i = 0; i < got; ++i) lines_ += buffer[i] == '\n';
      offset_ += got;
    }
    return lines_;
  }

 private:
  fs::path file_;
  std::size_t offset_ = 0, lines_ = 0;
};

struct Result {
  double acknowledged_s = 0, written_s = 0;
  std::size_t failed = 0;
  std::uint64_t round_trips = 0;
  std::vector<double> peak_rss_mib;  // capture first, then the workers
};

// One set-up: `workers` worker servers (0: one embedded server doing both).
// Until every worker holds some of the stream's partitions (each takes its share within a second or two).
void wait_for_shares(const std::vector<posthog::bench::ServeRun>& servers) {
  for (std::size_t i = 1; i < servers.size(); ++i) {
    httplib::Client c("127.0.0.1", servers[i].port);
    for (int tries = 0; tries < 1000; ++tries) {
      auto r = c.Get("/_ready");
      if (r && r->status == 200) {
        auto const v = boost::json::parse(r->body);
        auto const* stream = v.as_object().if_contains("stream");
        auto const held = stream ? stream->at("partitions").as_array().size() : 0;
        if (held > 0 && held <= 8 / (servers.size() - 1)) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

Result run(const fs::path& root, const std::string& redis_url, int workers, Chain chain,
           const std::vector<std::string>& requests, std::size_t events) {
  std::vector<fs::path> dirs;
  std::vector<posthog::bench::ServeRun> servers;
  auto start = [&](const std::string& name, const std::string& role, const std::string& url) {
    dirs.push_back(root / name);
    write_config(dirs.back(), role, url, chain);
    servers.push_back(posthog::bench::start_serve(POSTHOG_SERVER_BINARY, dirs.back() / "config.json", dirs.back()));
  };
  if (workers == 0) {
    start("embedded", "all", "");
  } else {
    start("capture", "capture", redis_url);
    for (int w = 1; w <= workers; ++w) start("worker-" + std::to_string(w), "worker", redis_url);
  }
  if (workers > 0) wait_for_shares(servers);
  std::vector<SinkLines> sinks;
  for (std::size_t i = workers == 0 ? 0 : 1; i < dirs.size(); ++i) sinks.emplace_back(dirs[i] / "sink.jsonl");

  Result r;
  auto const t0 = Clock::now();
  r.failed = posthog::bench::send_all(servers.front().port, requests, 2);
  r.acknowledged_s = std::chrono::duration<double>(Clock::now() - t0).count();
  for (;;) {
    std::size_t written = 0;
    for (auto& s : sinks) written += s.count();
    if (written >= events || Clock::now() - t0 > std::chrono::minutes(5)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  r.written_s = std::chrono::duration<double>(Clock::now() - t0).count();
  for (std::size_t i = 0; i < servers.size(); ++i) {
    auto const summary = posthog::bench::stop_serve(servers[i], dirs[i]);
    if (auto const* rss = summary.if_contains("peak_rss_kib")) r.peak_rss_mib.push_back(rss->to_number<double>() / 1024);
    if (auto const* rt = summary.if_contains("redis_round_trips")) r.round_trips += rt->to_number<std::uint64_t>();
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t const n = argc > 1 ? std::stoul(argv[1]) : 100000;
  auto const root = fs::temp_directory_path() / ("posthog-cluster-bench-" + std::to_string(getpid()));
  fs::create_directories(root);
  auto const lines = posthog::bench::synthetic_events(n, 1, 42, 1000);
  std::vector<std::string> requests;
  for (auto const& body : posthog::bench::batch_bodies(lines, 100))
    requests.push_back(posthog::bench::request_bytes("/batch/", body, "application/json"));

  posthog::testing::RedisServer redis;
  auto fresh_redis = [&] {  // nothing left over from the last set-up
    redis.stop();
    redis.start();
  };
  auto const embedded = run(root, "", 0, Chain::filter_only, requests, n);
  auto const one = run(root, redis.url(), 1, Chain::filter_only, requests, n);
  fresh_redis();
  auto const two = run(root, redis.url(), 2, Chain::filter_only, requests, n);
  fresh_redis();
  auto const embedded_cache = run(root, "", 0, Chain::with_helloworld, requests, n);
  auto const one_cache = run(root, redis.url(), 1, Chain::with_helloworld, requests, n);
  fresh_redis();
  auto const two_cache = run(root, redis.url(), 2, Chain::with_helloworld, requests, n);

  auto rate = [n](double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; };
  std::printf("cluster_bench: %zu events, /batch/ of 100, two keep-alive clients; one redis-server on loopback; "
              "every process on this machine's cores\n", n);
  auto line = [&](const char* name, const Result& r, const Result& base) {
    std::printf("  %-34s acknowledged %9.0f events/s, written %9.0f events/s (%.2f of embedded)", name,
                rate(r.acknowledged_s), rate(r.written_s), rate(r.written_s) / rate(base.written_s));
    if (r.round_trips) std::printf(", %.3f Redis round trips/event", static_cast<double>(r.round_trips) / static_cast<double>(n));
    std::printf("; peak RSS");
    for (auto m : r.peak_rss_mib) std::printf(" %.0f", m);
    std::printf(" MiB\n");
    if (r.failed) std::printf("    WARNING: %zu requests failed\n", r.failed);
  };
  std::printf(" chain property-filter (no plugin call to Redis):\n");
  line("embedded (one server, no Redis)", embedded, embedded);
  line("stream: capture + 1 worker", one, embedded);
  line("stream: capture + 2 workers", two, embedded);
  std::printf(" chain property-filter + helloworld (meta.cache.incr per event: a Redis round trip, with Redis):\n");
  line("embedded (one server, no Redis)", embedded_cache, embedded_cache);
  line("stream: capture + 1 worker", one_cache, embedded_cache);
  line("stream: capture + 2 workers", two_cache, embedded_cache);
  if (!std::getenv("CLUSTER_BENCH_KEEP_DIR")) fs::remove_all(root);
  return 0;
}
