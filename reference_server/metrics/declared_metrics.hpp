// DeclaredMetrics: the values of the metrics one (team, plugin) declared, as
// PostHog's `export const metrics = {name: 'sum' | 'max' | 'min'}` and
// `meta.metrics.name.increment(n) / .max(n) / .min(n)` had them
// (src/worker/vm/extensions/metrics.ts): a sum adds, a max keeps the largest
// value given, a min the smallest (the first value given sets either).
//
// Values live in this process and only go up (sum) or settle (max, min), as
// Prometheus expects of what /metrics shows; PostHog flushed them into an
// event every 30 minutes and started again from zero. An exporting plugin
// also gets PostHog's five export metrics (exports/export_runner.hpp).
//
//   DeclaredMetrics m;
//   m.update("requests", MetricKind::sum, 1);
//   m.update("slowest_ms", MetricKind::max, 250);
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace posthog::server {

enum class MetricKind : std::uint8_t { sum, max, min };

std::string_view to_string(MetricKind k) noexcept;
std::optional<MetricKind> metric_kind(std::string_view name) noexcept;  // "sum", "max", "min"

struct MetricValue {
  std::string name;
  MetricKind kind = MetricKind::sum;
  double value = 0;
};

class DeclaredMetrics {
 public:
  void update(std::string_view name, MetricKind kind, double value);
  std::vector<MetricValue> values() const;  // in the order first updated

 private:
  mutable std::mutex mutex_;
  std::vector<MetricValue> values_;
};

}  // namespace posthog::server
