// PipelineMetrics: what serve mode counts for /metrics (Prometheus text format).
//
//   per team:    events in, out (to the sink), dropped by a plugin;
//   per plugin:  process_event calls, errors, drops and a latency histogram,
//                on_event calls and errors; summed over teams and workers.
//
// Plugin counters are per worker, each written by one thread only (a relaxed
// load and store, no locked instruction, no shared cache line between workers)
// and summed when scraped. Team counters are shared by the workers, so they are
// relaxed atomic adds. Counters outlive chain changes and module swaps: a plugin
// keeps its slot by name, a team its counters by id, so Prometheus sees
// counters that only go up.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/owned_counter.hpp"
#include "prometheus_text.hpp"

namespace posthog::server {

struct PluginTimings {
  // Upper bounds of the latency buckets, in seconds (Prometheus' `le`).
  static constexpr std::array<double, 12> bounds{1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 1.0};

  OwnedCounter calls, errors, dropped, on_event_calls, on_event_errors, sum_ns;
  std::array<OwnedCounter, bounds.size() + 1> buckets;  // the last one: over every bound

  void observe(std::chrono::nanoseconds took) noexcept {
    double const s = static_cast<double>(took.count()) * 1e-9;
    std::size_t b = 0;
    while (b < bounds.size() && s > bounds[b]) ++b;
    buckets[b].add();
    sum_ns.add(static_cast<std::uint64_t>(took.count()));
  }
};

struct TeamCounters {
  std::atomic<std::uint64_t> in{0}, out{0}, dropped{0};
};

// The counters at one moment, summed: what the console's overview polls.
struct PipelineSnapshot {
  struct Team {
    std::int64_t team_id = 0;
    std::uint64_t in = 0, out = 0, dropped = 0;
  };
  std::vector<Team> teams;
  // process_event calls of every plugin by latency bucket (PluginTimings::bounds,
  // then one over every bound), not cumulative.
  std::array<std::uint64_t, PluginTimings::bounds.size() + 1> latency{};
};

class PipelineMetrics {
 public:
  static constexpr std::size_t max_plugins = 256;  // slots per worker; later plugins share the last

  explicit PipelineMetrics(unsigned workers);

  // The slot a plugin's counters live in, the same for the life of the process.
  std::size_t plugin_slot(const std::string& plugin);
  // Worker `worker`'s counters (the array is indexed by slot).
  PluginTimings* worker_timings(unsigned worker) noexcept { return workers_[worker].get(); }
  // The team's counters, created on first use; the address never changes.
  TeamCounters* team(std::int64_t team_id);

  // Appends every counter in Prometheus text format.
  void render(std::string& out) const;
  PipelineSnapshot snapshot() const;

 private:
  std::vector<std::unique_ptr<PluginTimings[]>> workers_;
  mutable std::mutex mutex_;
  std::vector<std::string> plugin_names_;  // by slot
  std::map<std::int64_t, std::unique_ptr<TeamCounters>> teams_;
};


}  // namespace posthog::server
