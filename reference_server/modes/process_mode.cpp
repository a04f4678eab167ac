#include "process_mode.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../loader/plugin_module.hpp"
#include "../pipeline/chain_set.hpp"
#include "../pipeline/json_lines.hpp"
#include "../pipeline/partitioned_workers.hpp"
#include "../pipeline/route_key.hpp"
#include "../sinks/fd_writer.hpp"
#include "../stores/memory_cache.hpp"
#include "../stores/plugin_log.hpp"
#include "../stores/plugin_storage.hpp"
#include "process_memory.hpp"

namespace posthog::server {
namespace {

constexpr std::size_t batch_size = 256;
constexpr std::size_t batch_bytes = 1 << 20;  // bounds memory when lines are large
constexpr std::size_t queue_batches = 8;
constexpr std::size_t read_chunk = 1 << 20;

struct WorkItem {
  boost::json::object event;
  std::int64_t team_id = 0;
  int depth = 0;  // 0 for input events, n for an event captured by a plugin at depth n-1
};

struct Survivor {
  const PluginChain* chain;
  boost::json::object event;
};

// What one worker thread owns: nothing here is shared with another worker.
struct WorkerState {
  ChainScratch scratch;
  // Where the batch's events are parsed: one bump allocator, emptied after the
  // batch, instead of a malloc and a free per JSON value.
  ReusableArena arena{1 << 20};
  ChainStats stats;
  JsonBuffer out;
  std::vector<Survivor> survivors;
  std::deque<WorkItem> captured;
  boost::json::parser parser;
  std::uint64_t in_count = 0;
  std::uint64_t malformed_count = 0;
  std::uint64_t out_count = 0;
  std::uint64_t captured_count = 0;
  int depth = 0;
};

thread_local WorkerState* current_worker = nullptr;

// meta.capture() in process mode: the new event is processed by the same worker
// right after the event being handled, through its team's chain, and written out.
class ProcessCapture final : public CaptureSink {
 public:
  explicit ProcessCapture(int max_depth) : max_depth_(max_depth) {}
  void capture(std::int64_t team_id, boost::json::object event) override {
    WorkerState* w = current_worker;
    if (!w) throw std::runtime_error("capture is only available while an event is being processed");
    if (w->depth >= max_depth_)
      throw std::runtime_error("capture depth limit (" + std::to_string(max_depth_) +
                               ") reached: events captured by plugins may not capture further");
    w->captured.push_back({std::move(event), team_id, w->depth + 1});
  }

 private:
  int max_depth_;
};

std::string error_line(const boost::json::object& o) {
  std::string s;
  append_json_line(s, o);
  return s;
}

const char* level_name(int level) {
  switch (level) {
    case 0: return "debug";
    case 1: return "info";
    case 2: return "warn";
    default: return "error";
  }
}

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

}  // namespace

int run_process_mode(const ServerConfig& config, const ProcessOptions& options, ProcessSummary* summary_out) {
  auto const started = std::chrono::steady_clock::now();
  FdWriter out(options.output_fd);
  FdWriter err(options.error_fd);

  MemoryCache cache;
  MemoryStorage storage;
  PluginLog log;
  ProcessCapture capture(options.max_capture_depth);
  HostServices services{&cache, &storage, &log, &capture};

  ModuleRegistry modules;
  std::vector<LoadError> refusals;
  auto const chains = ChainSet::build(config, modules, services, refusals);
  for (auto const& r : refusals) {
    boost::json::array details;
    for (auto const& d : r.details()) details.emplace_back(d);
    err.write(error_line({{"type", "load_error"}, {"file", r.file()}, {"step", to_string(r.step())},
                          {"field", r.field()}, {"details", std::move(details)}}));
  }
  log.observe(
      [&](const PluginLogLine& l) {
        err.write(error_line({{"type", "plugin_log"}, {"team_id", l.team_id}, {"plugin", l.plugin},
                              {"level", level_name(l.level)}, {"message", l.message}}));
      },
      [&](const PluginErrorRecord& e) {
        err.write(error_line({{"type", "plugin_error"}, {"plugin", e.plugin}, {"team_id", e.team_id},
                              {"event_uuid", e.event_uuid}, {"hook", e.hook}, {"kind", e.kind},
                              {"message", e.message}}));
      });

  unsigned workers = options.workers ? options.workers : config.workers;
  if (!workers) workers = std::max(1u, std::thread::hardware_concurrency());
  std::vector<WorkerState> states(workers);
  ProcessSummary summary;
  summary.load_errors = refusals.size();

  auto process_one = [&](WorkerState& w, WorkItem& item) {
    const PluginChain* chain = chains->chain(item.team_id);
    w.depth = item.depth;
    bool const keep = !chain || chain->process(item.event, w.scratch, log, w.stats);
    if (!keep) return;
    append_json_line(w.out, item.event);
    ++w.out_count;
    if (chain && chain->has_on_event()) w.survivors.push_back({chain, std::move(item.event)});
  };

  // Parses one input line into a work item, or reports why it cannot be one.
  auto parse_line = [&](WorkerState& w, std::string_view line, std::uint64_t number) -> std::optional<WorkItem> {
    auto reject = [&](const std::string& why, std::size_t column) -> std::optional<WorkItem> {
      ++w.malformed_count;
      boost::json::object o{{"type", "input_error"}, {"line", number}, {"message", why}};
      if (column) o["column"] = column;
      err.write(error_line(std::move(o)));
      return std::nullopt;
    };
    w.parser.reset(w.arena.storage());
    boost::system::error_code ec;
    std::size_t const consumed = w.parser.write(line.data(), line.size(), ec);
    if (ec) return reject("malformed JSON: " + ec.message(), consumed + 1);
    boost::json::value v = w.parser.release();
    if (!v.is_object()) return reject("an event must be a JSON object", 0);
    auto team = resolve_team(v.get_object(), *chains);
    if (!team)
      return reject("no team: the event has no integer team_id and no known project token "
                    "(token, api_key, $token or properties.token)",
                    0);
    ++w.in_count;
    return WorkItem{std::move(v.get_object()), *team, 0};
  };

  PartitionedWorkers<LineBatch> pool(workers, queue_batches, [&](std::size_t i, LineBatch& batch) {
    WorkerState& w = states[i];
    current_worker = &w;
    for (auto const& ref : batch.lines) {
      auto item = parse_line(w, batch.line(ref), ref.number);
      if (!item) continue;
      process_one(w, *item);
      while (!w.captured.empty()) {
        WorkItem c = std::move(w.captured.front());
        w.captured.pop_front();
        ++w.captured_count;
        process_one(w, c);
      }
    }
    current_worker = nullptr;
    out.write(w.out.view());
    w.out.clear();
    // on_event runs once the events were handed to the sink (here: written out).
    for (auto& s : w.survivors) s.chain->on_event(s.event, log, w.stats);
    w.survivors.clear();
    w.arena.reset();  // every event of the batch is gone by now
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

  for (auto const& w : states) {
    summary.in += w.in_count;
    summary.malformed += w.malformed_count;
    summary.out += w.out_count;
    summary.dropped += w.stats.dropped;
    summary.plugin_errors += w.stats.plugin_errors + w.stats.illegal_team_changes;
    summary.captured += w.captured_count;
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  err.write(error_line({{"type", "summary"},
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
                        {"peak_rss_kib", peak_resident_kib()}}));
  if (summary_out) *summary_out = summary;
  return out.broken() ? 1 : 0;
}

}  // namespace posthog::server
