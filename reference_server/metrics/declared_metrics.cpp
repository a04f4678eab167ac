#include "declared_metrics.hpp"

#include <algorithm>

namespace posthog::server {

std::string_view to_string(MetricKind k) noexcept {
  switch (k) {
    case MetricKind::sum: return "sum";
    case MetricKind::max: return "max";
    case MetricKind::min: return "min";
  }
  return "sum";
}

std::optional<MetricKind> metric_kind(std::string_view name) noexcept {
  if (name == "sum") return MetricKind::sum;
  if (name == "max") return MetricKind::max;
  if (name == "min") return MetricKind::min;
  return std::nullopt;
}

void DeclaredMetrics::update(std::string_view name, MetricKind kind, double value) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(values_.begin(), values_.end(), [&](const MetricValue& m) { return m.name == name; });
  if (it == values_.end() || it->kind != kind) {
    // New, or re-declared with another kind by a newer version: starts afresh.
    if (it != values_.end()) values_.erase(it);
    values_.push_back({std::string(name), kind, value});
    return;
  }
  switch (kind) {
    case MetricKind::sum: it->value += value; break;
    case MetricKind::max: it->value = std::max(it->value, value); break;
    case MetricKind::min: it->value = std::min(it->value, value); break;
  }
}

std::vector<MetricValue> DeclaredMetrics::values() const {
  std::lock_guard lock(mutex_);
  return values_;
}

}  // namespace posthog::server
