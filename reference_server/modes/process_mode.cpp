#include "process_mode.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "log/partitioner.hpp"
#include "common/json_lines.hpp"
#include "pipeline/pipeline_runner.hpp"
#include "common/route_key.hpp"
#include "sinks/fd_sink.hpp"
#include "diagnostics.hpp"
#include "embedded_plugin_host.hpp"
#include "hot_swap.hpp"
#include "health/call_watchdog.hpp"
#include "process_memory.hpp"

namespace posthog::server {
namespace {

constexpr std::size_t batch_size = 256;
constexpr std::size_t batch_bytes = 1 << 20;  // bounds memory when lines are large
constexpr std::size_t read_chunk = 1 << 20;

std::optional<std::int64_t> resolve_team(boost::json::object& event, const ChainSet& set) {
  if (auto const* t = event.if_contains("team_id")) {
    if (t->is_int64()) return t->get_int64();
    if (t->is_uint64() && t->get_uint64() <= INT64_MAX) return static_cast<std::int64_t>(t->get_uint64());
  }
  auto from = [&](const boost::json::object& o, std::string_view key) -> std::optional<std::int64_t> {
    auto const* v = o.if_contains(key);
    return v && v->is_string() ? set.team_for_token(v->get_string()) : std::nullopt;
  };
  std::optional<std::int64_t> team;
  for (auto key : {"token", "api_key", "$token"})
    if (!team) team = from(event, key);
  if (auto const* p = event.if_contains("properties"); !team && p && p->is_object()) team = from(p->get_object(), "token");
  if (team) event["team_id"] = *team;
  return team;
}

// The partition of a line's person, found without parsing the line (the
// one partitioner; process mode knows no team before the parse, so the key is
// the distinct_id alone: coarser than PostHog's (team, distinct_id) ordering,
// and so keeping it). A line without a distinct_id has no person to keep in
// order and goes round robin.
std::size_t partition(std::string_view line, std::uint64_t number, std::size_t workers) {
  auto key = top_level_value(line, "distinct_id");
  if (!key) return number % workers;
  return partition_of(0, *key, workers);
}

// SIGHUP swaps every plugin whose file changed, on a thread of its own, until
// destroyed.
class HangupReloads {
 public:
  static void block() {
    sigset_t hangup = signals();
    pthread_sigmask(SIG_BLOCK, &hangup, nullptr);
  }
  explicit HangupReloads(HotSwap& hot_swap)
      : thread_([this, &hot_swap] {
          sigset_t hangup = signals();
          for (int signal_number = 0;;) {
            sigwait(&hangup, &signal_number);
            if (finished_.load()) return;
            hot_swap.reload_changed("SIGHUP");
          }
        }) {}
  ~HangupReloads() {
    finished_ = true;
    pthread_kill(thread_.native_handle(), SIGHUP);
    thread_.join();
  }

 private:
  static sigset_t signals() {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGHUP);
    return s;
  }
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

}  // namespace

int run_process_mode(const ServerConfig& config, const ProcessOptions& options, ProcessSummary* summary_out) {
  auto const started = std::chrono::steady_clock::now();
  FdWriter out(options.output_fd);
  FdWriter err(options.error_fd);

  // Blocked before any thread starts (plugins may start threads in their set-up),
  // so that only the sigwait thread takes it.
  if (options.reload_on_sighup) HangupReloads::block();
  EmbeddedPluginHost host(options.max_capture_depth);
  host.build(config);
  auto& log = host.log;
  report_load_errors(err, host.refusals);
  stream_plugin_log(log, err);
  CallWatchdog watchdog(host.states, log);  // a hook past the hard timeout is reported while it runs
  watchdog.start();

  HotSwap hot_swap(config, host, err);
  std::optional<HangupReloads> hangup_reloads;
  if (options.reload_on_sighup) hangup_reloads.emplace(hot_swap);

  unsigned const workers = worker_count(options.workers ? options.workers : config.workers);
  ProcessSummary summary;
  summary.load_errors = host.refusals.size();
  FdSink sink(out);
  RunnerPolicy policy;
  policy.workers = workers;
  policy.drop_teams_without_chain = false;  // events of teams without a chain pass through untouched
  RunnerHooks hooks;
  hooks.team_of_line = resolve_team;
  hooks.report = [&err](boost::json::object o) { err.write(diagnostic_line(o)); };
  PipelineRunner runner(host.chains, log, sink, policy, std::move(hooks));

  // The reader only splits lines and routes them; parsing happens in the workers.
  std::vector<RunnerBatch> pending(workers);
  std::string buffer;
  std::vector<char> chunk(read_chunk);
  std::uint64_t line_number = 0;
  auto handle_line = [&](std::string_view line) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
    auto const w = partition(line, line_number, workers);
    auto& lines = pending[w].lines;
    lines.add(line, line_number);
    if (lines.lines.size() >= batch_size || lines.text.size() >= batch_bytes) {
      pending[w].partition = w;
      runner.push(std::move(pending[w]));
      pending[w] = RunnerBatch{};
      pending[w].lines.lines.reserve(batch_size);
    }
  };

  for (;;) {
    ssize_t n = ::read(options.input_fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::string_view data(chunk.data(), static_cast<std::size_t>(n));
    if (!buffer.empty()) {
      auto nl = data.find('\n');
      if (nl == std::string_view::npos) {
        buffer.append(data);
        continue;
      }
      buffer.append(data.substr(0, nl));
      handle_line(buffer);
      buffer.clear();
      data.remove_prefix(nl + 1);
    }
    for (auto nl = data.find('\n'); nl != std::string_view::npos; nl = data.find('\n')) {
      handle_line(data.substr(0, nl));
      data.remove_prefix(nl + 1);
    }
    buffer.assign(data);
    if (out.broken()) break;
  }
  if (!buffer.empty()) handle_line(buffer);
  for (std::size_t w = 0; w < workers; ++w)
    if (!pending[w].lines.lines.empty()) {
      pending[w].partition = w;
      runner.push(std::move(pending[w]));
    }
  runner.close_and_join();
  hangup_reloads.reset();

  auto const stats = runner.stats();
  summary.in = stats.in;
  summary.malformed = stats.malformed;
  summary.out = stats.out;
  summary.dropped = stats.dropped;
  summary.plugin_errors = stats.plugin_errors;
  summary.captured = stats.captured;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  err.write(diagnostic_line({{"type", "summary"},
                        {"in", summary.in},
                        {"out", summary.out},
                        {"dropped", summary.dropped},
                        {"errors", summary.plugin_errors},
                        {"malformed", summary.malformed},
                        {"captured", summary.captured},
                        {"load_errors", summary.load_errors},
                        {"workers", workers},
                        {"seconds", summary.seconds},
                        {"events_per_second", summary.seconds > 0 ? summary.in / summary.seconds : 0.0},
                        {"cpu_seconds", cpu_seconds()},
                             {"peak_rss_kib", peak_resident_kib()}}));
  if (summary_out) *summary_out = summary;
  return out.broken() ? 1 : 0;
}

}  // namespace posthog::server
