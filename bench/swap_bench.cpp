// swap_bench: what a hot swap costs a live server.
//
// Serve mode runs helloworld for one team while one keep-alive client sends
// /batch/ requests of 10 events at a steady pace, each event stamped with the
// CLOCK_MONOTONIC time it was sent. A reader tails the JSONL sink and takes
// each event's latency (sent -> in the sink). First a phase without swaps,
// then one where helloworld.so is replaced every 100 ms, alternating two
// builds that differ by one byte, half picked up by the folder watch and half
// through the admin API. Prints:
//   - time from the file renamed into place to the new build serving
//     (watch: includes its 200 ms debounce; admin: the reload call);
//   - event latency p50 / p99.9 / max without swaps and during swaps;
//   - events acknowledged vs in the sink after a draining stop (lost: must be 0).
//
//   build/bin/swap_bench [seconds per phase, default 3]
#include <boost/json.hpp>
#include <httplib.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "raw_http_client.hpp"
#include "server_runs.hpp"

namespace fs = std::filesystem;

namespace {

constexpr const char* admin_token = "swap-bench-admin-token-0123456789";

std::int64_t now_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1'000'000'000ll + t.tv_nsec;
}

struct Percentiles {
  double p50 = 0, p999 = 0, max = 0;
  std::size_t n = 0;
};
Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  p.n = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  p.p50 = v[v.size() / 2];
  p.p999 = v[std::min(v.size() - 1, v.size() * 999 / 1000)];
  p.max = v.back();
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  double const phase_seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  auto const dir = fs::temp_directory_path() / ("posthog-swap-bench-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "plugins");
  // Two builds of helloworld: the real one and the same bytes plus one, so
  // each swap loads a different image (the same bytes would be no swap).
  fs::copy_file(fs::path(POSTHOG_PLUGINS_DIR) / "helloworld.so", dir / "build-a.so");
  fs::copy_file(dir / "build-a.so", dir / "build-b.so");
  std::ofstream(dir / "build-b.so", std::ios::app | std::ios::binary) << '\0';
  fs::copy_file(dir / "build-a.so", dir / "plugins" / "helloworld.so");

  boost::json::object config{
      {"plugins_dir", (dir / "plugins").string()},
      {"plugins", {boost::json::object{{"name", "helloworld"}}}},
      {"teams", {boost::json::object{{"id", 1}, {"token", "phc_bench"},
                                     {"plugins", {boost::json::object{{"name", "helloworld"}}}}}}},
      {"serve", {{"listen", "127.0.0.1:0"},
                 {"store", (dir / "store.db").string()},
                 {"sink", {{"path", (dir / "sink.jsonl").string()}, {"fsync", "interval"}}},
                 {"admin", {{"listen", "127.0.0.1:0"}, {"token", admin_token}}}}}};
  std::ofstream(dir / "config.json") << boost::json::serialize(config);
  auto server = posthog::bench::start_serve(POSTHOG_SERVER_BINARY, dir / "config.json", dir);
  int const port = server.port, admin_port = server.admin_port;

  // Phase 0: no swaps; phase 1: swaps. Events carry their phase and send time.
  std::atomic<int> phase{0};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> acked{0};
  std::thread client([&] {
    posthog::bench::RawHttpClient http(port);
    auto next = std::chrono::steady_clock::now();
    while (!stop.load()) {
      std::string body = "{\"api_key\":\"phc_bench\",\"batch\":[";
      auto const sent = now_ns();
      int const p = phase.load();
      for (int i = 0; i < 10; ++i) {
        if (i) body += ',';
        body += "{\"event\":\"e\",\"distinct_id\":\"u" + std::to_string(i) + "\",\"properties\":{\"sent_ns\":" +
                std::to_string(sent) + ",\"phase\":" + std::to_string(p) + "}}";
      }
      body += "]}";
      if (http.send(posthog::bench::request_bytes("/batch/", body, "application/json")) == 200) acked += 10;
      next += std::chrono::microseconds(500);  // 20,000 events/s
      std::this_thread::sleep_until(next);
    }
  });

  // Tails the sink: each event's latency, by phase.
  std::vector<double> latency_ms[2];
  std::uint64_t in_sink = 0;
  std::atomic<bool> tail_done{false};
  std::thread tail([&] {
    std::ifstream in;
    std::string pending, line;
    while (!in.is_open()) {
      in.open(dir / "sink.jsonl");
      if (!in.is_open()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (;;) {
      char buffer[65536];
      in.read(buffer, sizeof buffer);
      auto const n = in.gcount();
      if (n == 0) {
        if (tail_done.load()) return;
        in.clear();
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      auto const seen = now_ns();
      pending.append(buffer, static_cast<std::size_t>(n));
      std::size_t start = 0;
      for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n', start)) {
        std::string_view l(pending.data() + start, nl - start);
        start = nl + 1;
        ++in_sink;
        auto const s = l.find("\"sent_ns\":");
        auto const ph = l.find("\"phase\":");
        if (s == std::string_view::npos || ph == std::string_view::npos) continue;
        auto const sent = std::stoll(std::string(l.substr(s + 10, 20)));
        int const p = l[ph + 8] - '0';
        latency_ms[p == 1].push_back(static_cast<double>(seen - sent) / 1e6);
      }
      pending.erase(0, start);
    }
  });

  std::this_thread::sleep_for(std::chrono::duration<double>(phase_seconds));
  phase = 1;
  httplib::Client admin("127.0.0.1", admin_port);
  admin.set_bearer_token_auth(admin_token);
  auto serving_hash = [&] {
    auto r = admin.Get("/api/plugins/helloworld");
    if (!r || r->status != 200) return std::string();
    auto const v = boost::json::parse(r->body);
    return std::string(v.at("serving").at("content_hash").as_string());
  };
  std::vector<double> watch_ms, admin_ms;
  std::size_t refused = 0;
  auto const phase_end = std::chrono::steady_clock::now() + std::chrono::duration<double>(phase_seconds);
  for (int i = 0; std::chrono::steady_clock::now() < phase_end; ++i) {
    auto const before = serving_hash();
    fs::copy_file(dir / (i % 2 ? "build-a.so" : "build-b.so"), dir / "plugins" / "helloworld.so.tmp",
                  fs::copy_options::overwrite_existing);
    auto const t0 = now_ns();
    fs::rename(dir / "plugins" / "helloworld.so.tmp", dir / "plugins" / "helloworld.so");
    if (i % 2) {
      auto r = admin.Post("/api/plugins/helloworld/reload", "", "application/json");
      if (!r || r->status != 200) ++refused;
      admin_ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
    } else {
      while (serving_hash() == before) std::this_thread::sleep_for(std::chrono::microseconds(500));
      watch_ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop = true;
  client.join();
  int const code = server.process.stop(SIGTERM);
  tail_done = true;
  tail.join();

  auto const w = percentiles(watch_ms), a = percentiles(admin_ms);
  auto const calm = percentiles(latency_ms[0]), swapping = percentiles(latency_ms[1]);
  std::printf("hot swap of helloworld under 20,000 events/s (/batch/ of 10), %.0f s per phase\n\n", phase_seconds);
  std::printf("%-52s %zu by the folder watch, %zu by the admin API (%zu refused)\n", "swaps", w.n, a.n, refused);
  std::printf("%-52s p50 %.1f ms, max %.1f ms (includes the 200 ms debounce)\n", "file in place -> serving, folder watch",
              w.p50, w.max);
  std::printf("%-52s p50 %.2f ms, max %.2f ms\n", "file in place -> serving, admin reload", a.p50, a.max);
  std::printf("%-52s p50 %.2f ms, p99.9 %.2f ms, max %.2f ms (%zu events)\n", "event latency, no swaps", calm.p50,
              calm.p999, calm.max, calm.n);
  std::printf("%-52s p50 %.2f ms, p99.9 %.2f ms, max %.2f ms (%zu events)\n", "event latency, swapping every 100 ms",
              swapping.p50, swapping.p999, swapping.max, swapping.n);
  std::printf("%-52s %llu acknowledged, %llu in the sink, %lld lost (server exit %d)\n", "events",
              static_cast<unsigned long long>(acked.load()), static_cast<unsigned long long>(in_sink),
              static_cast<long long>(acked.load()) - static_cast<long long>(in_sink), code);
  fs::remove_all(dir);
  return acked.load() == in_sink && code == 0 ? 0 : 1;
}
