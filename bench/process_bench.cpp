// process_bench: process mode throughput and memory, next to a bare
// parse-and-reserialise pass over the same lines, in the same run.
//
//   build/bin/process_bench [events=200000]
//
// Prints events/s for: (1) parse + serialise only, one thread, in-process (the
// floor any JSON pipeline pays); (2) the server in process mode with no plugins;
// (3) the server with the helloworld chain; and each run's peak RSS.
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "server_runs.hpp"
#include "synthetic_events.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Run {
  double seconds;
  long peak_rss_kb;
};

Run run_server(const fs::path& config, const fs::path& input, const std::vector<std::string>& extra) {
  auto const start = Clock::now();
  std::vector<std::string> args{POSTHOG_SERVER_BINARY, "process", "--config", config.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  fs::path const err = input.string() + ".stderr";
  if (int const code = posthog::bench::run(args, input, "/dev/null", err); code != 0) {
    std::fprintf(stderr, "server failed (exit %d); see %s\n", code, err.c_str());
    std::exit(1);
  }
  double const seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // The server's own peak (VmHWM) from its summary line: a child's rusage would
  // also count this benchmark's pages, inherited before exec.
  auto const summary = posthog::bench::last_json_line(err, "summary");
  return {seconds, static_cast<long>(summary.at("peak_rss_kib").to_number<double>())};
}

void write_config(const fs::path& file, bool with_plugins) {
  boost::json::array chain;
  if (with_plugins) chain.push_back(boost::json::object{{"name", "helloworld"}, {"config", {{"bar", "bench"}}}});
  boost::json::object config{
      {"plugins_dir", POSTHOG_PLUGINS_DIR},
      {"plugins", boost::json::array{boost::json::object{{"name", "helloworld"}}}},
      {"teams", boost::json::array{boost::json::object{{"id", 1}, {"plugins", std::move(chain)}}}}};
  std::ofstream(file) << boost::json::serialize(config);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t const n = argc > 1 ? std::stoul(argv[1]) : 200000;
  auto dir = fs::temp_directory_path() / "posthog-process-bench";
  fs::create_directories(dir);
  auto lines = posthog::bench::synthetic_events(n, 1);
  std::size_t bytes = 0;
  {
    std::ofstream out(dir / "events.jsonl");
    for (auto const& l : lines) out << l << '\n', bytes += l.size() + 1;
  }
  write_config(dir / "bare.json", false);
  write_config(dir / "helloworld.json", true);

  // (1) The floor: parse and serialise each line, one thread.
  auto const start = Clock::now();
  boost::json::parser parser;
  std::size_t out_bytes = 0;
  for (auto const& l : lines) {
    parser.reset();
    parser.write(l);
    out_bytes += boost::json::serialize(parser.release()).size();
  }
  double const floor_s = std::chrono::duration<double>(Clock::now() - start).count();
  lines.clear();
  lines.shrink_to_fit();

  Run bare = run_server(dir / "bare.json", dir / "events.jsonl", {});
  Run hello = run_server(dir / "helloworld.json", dir / "events.jsonl", {});
  Run hello1 = run_server(dir / "helloworld.json", dir / "events.jsonl", {"--workers", "1"});

  auto rate = [&](double s) { return static_cast<double>(n) / s; };
  std::printf("events: %zu, %.0f bytes/event (%zu bytes out of the floor pass)\n", n,
              static_cast<double>(bytes) / static_cast<double>(n), out_bytes);
  std::printf("%-48s %12s %14s\n", "pass", "events/s", "peak RSS MiB");
  std::printf("%-48s %12.0f %14s\n", "parse + serialise only (1 thread, in-process)", rate(floor_s), "-");
  std::printf("%-48s %12.0f %14.1f\n", "process mode, no plugins", rate(bare.seconds), bare.peak_rss_kb / 1024.0);
  std::printf("%-48s %12.0f %14.1f\n", "process mode, helloworld chain", rate(hello.seconds),
              hello.peak_rss_kb / 1024.0);
  std::printf("%-48s %12.0f %14.1f\n", "process mode, helloworld chain, 1 worker", rate(hello1.seconds),
              hello1.peak_rss_kb / 1024.0);
  std::printf("ratio helloworld chain / parse+serialise floor: %.2f\n", floor_s / hello.seconds);
  std::printf("ratio helloworld chain / no plugins:            %.2f\n", bare.seconds / hello.seconds);
  fs::remove_all(dir);
  return 0;
}
