// export_bench: export throughput through webhook-export to a local receiver,
// next to the ingestion rate without and with the export in the same run, and
// the store's write rate for queued export events.
//
//   build/bin/export_bench [events=100000]
//
// Prints events/s for: /batch/ ingestion with helloworld only; the same with
// webhook-export added (acknowledged by the server); delivered to the receiver
// through webhook-export (from the first request until the receiver has every
// event); and appends to the export queue of the embedded store (the write
// every exported event costs), with the server's peak memory.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "stores/store_export_queue.hpp"
#include "raw_http_client.hpp"
#include "server_runs.hpp"
#include "stores/durable_store.hpp"
#include "synthetic_events.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Counts the events webhook-export delivers (one "uuid" per event), and when the last arrived.
class CountingReceiver {
 public:
  CountingReceiver() {
    server_.Post("/hook", [this](const httplib::Request& request, httplib::Response& response) {
      std::size_t n = 0;
      for (auto at = request.body.find("\"uuid\""); at != std::string::npos; at = request.body.find("\"uuid\"", at + 6)) ++n;
      events_ += n;
      ++requests_;
      response.set_content("{\"status\":1}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~CountingReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::size_t events() const { return events_.load(); }
  std::size_t requests() const { return requests_.load(); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<std::size_t> events_{0}, requests_{0};
};

void write_config(const fs::path& file, const fs::path& dir, const std::string& hook_url) {
  boost::json::array team_plugins{boost::json::object{{"name", "helloworld"}}};
  boost::json::array plugins{boost::json::object{{"name", "helloworld"}}};
  if (!hook_url.empty()) {
    team_plugins.push_back(boost::json::object{{"name", "webhook-export"}, {"config", {{"url", hook_url}}}});
    plugins.push_back(boost::json::object{{"name", "webhook-export"}});
  }
  boost::json::object config{
      {"plugins_dir", POSTHOG_PLUGINS_DIR},
      {"plugins", std::move(plugins)},
      {"teams", {boost::json::object{{"id", 1}, {"token", "phc_bench"}, {"plugins", std::move(team_plugins)}}}},
      {"serve", {{"listen", "127.0.0.1:0"},
                 {"store", (dir / "store.db").string()},
                 {"exports", {{"buffer_seconds", 1}}},
                 {"sink", {{"path", (dir / "sink.jsonl").string()}, {"fsync", "interval"}}}}}};
  std::ofstream(file) << boost::json::serialize(config);
}

struct Ingestion {
  double acknowledged_s = 0;  // until the last request got its 200
  double delivered_s = 0;     // until the receiver had every event (0: no receiver)
  std::size_t failed = 0;
  double peak_rss_mib = 0;
};

Ingestion ingest(const fs::path& config, const fs::path& dir, const std::vector<std::string>& requests,
                 std::size_t events, const CountingReceiver* receiver) {
  fs::remove(dir / "sink.jsonl");
  fs::remove(dir / "store.db"), fs::remove(dir / "store.db-wal"), fs::remove(dir / "store.db-shm");
  auto server = posthog::bench::start_serve(POSTHOG_SERVER_BINARY, config, dir);
  std::size_t const before = receiver ? receiver->events() : 0;
  Ingestion r;
  auto const t0 = Clock::now();
  r.failed = posthog::bench::send_all(server.port, requests, 2);
  r.acknowledged_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (receiver) {
    while (receiver->events() - before < events && Clock::now() - t0 < std::chrono::minutes(5))
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    r.delivered_s = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  auto const summary = posthog::bench::stop_serve(server, dir);
  if (auto const* rss = summary.if_contains("peak_rss_kib")) r.peak_rss_mib = rss->to_number<double>() / 1024;
  return r;
}

// The write each exported event costs: appends to the export queue, in
// transactions of 100 rows as the workers make them.
double store_append_rate(const fs::path& dir, const std::vector<std::string>& lines, double& mib_per_s) {
  fs::remove(dir / "append.db"), fs::remove(dir / "append.db-wal"), fs::remove(dir / "append.db-shm");
  posthog::server::DurableStore store(dir / "append.db");
  posthog::server::StoreExportQueue queue(store);
  std::vector<posthog::server::ExportRow> rows;
  std::size_t bytes = 0;
  auto const t0 = Clock::now();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    rows.push_back({1, "webhook-export", lines[i]});
    bytes += lines[i].size();
    if (rows.size() == 100 || i + 1 == lines.size()) {
      queue.append(rows, 1);
      rows.clear();
    }
  }
  double const s = std::chrono::duration<double>(Clock::now() - t0).count();
  mib_per_s = static_cast<double>(bytes) / (1024.0 * 1024.0) / s;
  return static_cast<double>(lines.size()) / s;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t const n = argc > 1 ? std::stoul(argv[1]) : 100000;
  auto const dir = fs::temp_directory_path() / ("posthog-export-bench-" + std::to_string(getpid()));
  fs::create_directories(dir);
  auto const lines = posthog::bench::synthetic_events(n, 1, 42, 1000);
  std::vector<std::string> requests;
  for (auto const& body : posthog::bench::batch_bodies(lines, 100))
    requests.push_back(posthog::bench::request_bytes("/batch/", body, "application/json"));

  CountingReceiver receiver;
  write_config(dir / "plain.json", dir, "");
  write_config(dir / "export.json", dir, receiver.url());
  auto const plain = ingest(dir / "plain.json", dir, requests, n, nullptr);
  auto const exporting = ingest(dir / "export.json", dir, requests, n, &receiver);
  double append_mib_s = 0;
  double const append_rate = store_append_rate(dir, lines, append_mib_s);

  auto rate = [n](double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; };
  std::printf("export_bench: %zu events, /batch/ of 100, two keep-alive clients; helloworld, then helloworld + "
              "webhook-export (buffer 1 s / 1 MiB) to a loopback receiver\n",
              n);
  std::printf("  ingestion, helloworld only            %10.0f events/s  (peak RSS %.0f MiB)\n",
              rate(plain.acknowledged_s), plain.peak_rss_mib);
  std::printf("  ingestion, with webhook-export        %10.0f events/s  (%.2f of the above)\n",
              rate(exporting.acknowledged_s), rate(exporting.acknowledged_s) / rate(plain.acknowledged_s));
  std::printf("  exported to the receiver              %10.0f events/s  (%.2f of ingestion with it; %zu "
              "requests; peak RSS %.0f MiB)\n",
              rate(exporting.delivered_s), rate(exporting.delivered_s) / rate(exporting.acknowledged_s),
              receiver.requests(), exporting.peak_rss_mib);
  std::printf("  store: export queue appends           %10.0f events/s  (%.0f MiB/s, transactions of 100)\n",
              append_rate, append_mib_s);
  if (plain.failed || exporting.failed || receiver.events() < n)
    std::printf("  WARNING: %zu + %zu requests failed, receiver has %zu of %zu events\n", plain.failed,
                exporting.failed, receiver.events(), n);
  if (!std::getenv("EXPORT_BENCH_KEEP_DIR")) fs::remove_all(dir);
  return 0;
}
