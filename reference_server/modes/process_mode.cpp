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

#include "../pipeline/chain_worker.hpp"
#include "../pipeline/json_lines.hpp"
#include "../pipeline/partitioned_workers.hpp"
#include "../pipeline/route_key.hpp"
#include "../sinks/fd_writer.hpp"
#include "diagnostics.hpp"
#include "embedded_plugin_host.hpp"
#include "hot_swap.hpp"
#include "../health/call_watchdog.hpp"
#include "process_memory.hpp"

namespace posthog::server {
namespace {

constexpr std::size_t batch_size = 256;
constexpr std::size_t batch_bytes = 1 << 20;  // bounds memory when lines are large
constexpr std::size_t queue_batches = 8;
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

// Input lines travel to the workers unparsed, in blocks that share one buffer.
struct LineRef {
  std::uint32_t offset, size;
  std::uint64_t number;
};
struct LineBatch {
  std::string text;
  std::vector<LineRef> lines;
  void add(std::string_view line, std::uint64_t number) {
    lines.push_back({static_cast<std::uint32_t>(text.size()), static_cast<std::uint32_t>(line.size()), number});
    text.append(line);
  }
  std::string_view line(const LineRef& r) const { return std::string_view(text).substr(r.offset, r.size); }
};

// The worker that owns a line's person, found without parsing the line.
// Partitioning by distinct_id alone (not team and distinct_id) is coarser than
// the ordering PostHog promises and so keeps it; a line without a distinct_id
// has no person to keep in order and goes round robin.
std::size_t partition(std::string_view line, std::uint64_t number, std::size_t workers) {
  auto key = top_level_value(line, "distinct_id");
  if (!key) return number % workers;
  std::size_t h = std::hash<std::string_view>{}(*key) * 0x9e3779b97f4a7c15ull;
  return (h ^ (h >> 29)) % workers;
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
  // Per worker: its chain runner, its parser, its counts.
  struct Worker {
    Worker(const LiveChains& chains, PluginLog& log) : runner(chains, log) {}
    ChainWorker runner;
    boost::json::parser parser{boost::json::storage_ptr(), event_parse_options(default_max_json_depth)};
    std::uint64_t in = 0, malformed = 0;
  };
  std::vector<std::unique_ptr<Worker>> states;
  for (unsigned i = 0; i < workers; ++i) states.push_back(std::make_unique<Worker>(host.chains, log));
  ProcessSummary summary;
  summary.load_errors = host.refusals.size();

  // Parses one input line into a work item, or reports why it cannot be one.
  auto parse_line = [&](Worker& w, std::string_view line, std::uint64_t number) -> std::optional<WorkItem> {
    auto reject = [&](const std::string& why, std::size_t column) -> std::optional<WorkItem> {
      ++w.malformed;
      boost::json::object o{{"type", "input_error"}, {"line", number}, {"message", why}};
      if (column) o["column"] = column;
      err.write(diagnostic_line(o));
      return std::nullopt;
    };
    w.parser.reset(w.runner.batch_storage());
    boost::system::error_code ec;
    std::size_t const consumed = w.parser.write(line.data(), line.size(), ec);
    if (ec) return reject("malformed JSON: " + ec.message(), consumed + 1);
    boost::json::value v = w.parser.release();
    if (!v.is_object()) return reject("an event must be a JSON object", 0);
    auto team = resolve_team(v.get_object(), w.runner.chains());
    if (!team)
      return reject("no team: the event has no integer team_id and no known project token "
                    "(token, api_key, $token or properties.token)",
                    0);
    ++w.in;
    return WorkItem{std::move(v.get_object()), *team, 0};
  };

  PartitionedWorkers<LineBatch> pool(workers, queue_batches, [&](std::size_t i, LineBatch& batch) {
    Worker& w = *states[i];
    w.runner.begin_batch();
    for (auto const& ref : batch.lines)
      if (auto item = parse_line(w, batch.line(ref), ref.number)) w.runner.run(std::move(*item));
    out.write(w.runner.output().view());  // process mode: stdout is the sink
    w.runner.after_sink();
  });

  // The reader only splits lines and routes them; parsing happens in the workers.
  std::vector<LineBatch> pending(workers);
  std::string buffer;
  std::vector<char> chunk(read_chunk);
  std::uint64_t line_number = 0;
  auto handle_line = [&](std::string_view line) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
    auto const w = partition(line, line_number, workers);
    pending[w].add(line, line_number);
    if (pending[w].lines.size() >= batch_size || pending[w].text.size() >= batch_bytes) {
      pool.push(w, std::move(pending[w]));
      pending[w] = LineBatch{};
      pending[w].lines.reserve(batch_size);
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
    if (!pending[w].lines.empty()) pool.push(w, std::move(pending[w]));
  pool.close_and_join();
  hangup_reloads.reset();

  for (auto const& w : states) {
    summary.in += w->in;
    summary.malformed += w->malformed;
    summary.out += w->runner.written();
    summary.dropped += w->runner.stats().dropped;
    summary.plugin_errors += w->runner.stats().plugin_errors + w->runner.stats().illegal_team_changes;
    summary.captured += w->runner.captured();
  }
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
