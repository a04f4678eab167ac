#include "pipeline_metrics.hpp"

#include "prometheus_text.hpp"

namespace posthog::server {

PipelineMetrics::PipelineMetrics(unsigned workers) {
  for (unsigned i = 0; i < workers; ++i) workers_.push_back(std::make_unique<PluginTimings[]>(max_plugins));
}

std::size_t PipelineMetrics::plugin_slot(const std::string& plugin) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < plugin_names_.size(); ++i)
    if (plugin_names_[i] == plugin) return i;
  if (plugin_names_.size() == max_plugins) return max_plugins - 1;
  plugin_names_.push_back(plugin);
  return plugin_names_.size() - 1;
}

TeamCounters* PipelineMetrics::team(std::int64_t team_id) {
  std::lock_guard lock(mutex_);
  auto& c = teams_[team_id];
  if (!c) c = std::make_unique<TeamCounters>();
  return c.get();
}

PipelineSnapshot PipelineMetrics::snapshot() const {
  std::lock_guard lock(mutex_);
  PipelineSnapshot s;
  s.teams.reserve(teams_.size());
  for (auto const& [id, c] : teams_)
    s.teams.push_back({id, c->in.load(std::memory_order_relaxed), c->out.load(std::memory_order_relaxed),
                       c->dropped.load(std::memory_order_relaxed)});
  for (std::size_t slot = 0; slot < plugin_names_.size(); ++slot)
    for (auto const& w : workers_)
      for (std::size_t b = 0; b < s.latency.size(); ++b) s.latency[b] += w[slot].buckets[b].get();
  return s;
}

void PipelineMetrics::render(std::string& out) const {
  std::lock_guard lock(mutex_);
  auto team_family = [&](const char* name, const char* help, std::atomic<std::uint64_t> TeamCounters::*field) {
    prometheus_header(out, name, "counter", help);
    for (auto const& [id, c] : teams_) {
      out += name;
      out += "{team_id=\"" + std::to_string(id) + "\"} ";
      append_number(out, static_cast<double>(((*c).*field).load(std::memory_order_relaxed)));
      out += '\n';
    }
  };
  team_family("posthog_events_in_total", "Events accepted into the pipeline, per team.", &TeamCounters::in);
  team_family("posthog_events_out_total", "Events handed to the sink, per team.", &TeamCounters::out);
  team_family("posthog_events_dropped_total", "Events a plugin dropped, per team.", &TeamCounters::dropped);

  auto sum = [&](std::size_t slot, const OwnedCounter PluginTimings::*field) {
    std::uint64_t total = 0;
    for (auto const& w : workers_) total += (w[slot].*field).get();
    return total;
  };
  auto plugin_family = [&](const char* name, const char* help, const OwnedCounter PluginTimings::*field,
                           const char* hook) {
    prometheus_header(out, name, "counter", help);
    for (std::size_t slot = 0; slot < plugin_names_.size(); ++slot) {
      out += name;
      out += "{plugin=\"";
      append_label(out, plugin_names_[slot]);
      out += "\",hook=\"";
      out += hook;
      out += "\"} ";
      append_number(out, static_cast<double>(sum(slot, field)));
      out += '\n';
    }
  };
  plugin_family("posthog_plugin_calls_total", "Hook calls, all teams.", &PluginTimings::calls, "process_event");
  plugin_family("posthog_plugin_errors_total", "Hook calls that threw, all teams.", &PluginTimings::errors,
                "process_event");
  plugin_family("posthog_plugin_on_event_calls_total", "on_event calls, all teams.", &PluginTimings::on_event_calls,
                "on_event");
  plugin_family("posthog_plugin_on_event_errors_total", "on_event calls that threw, all teams.",
                &PluginTimings::on_event_errors, "on_event");
  plugin_family("posthog_plugin_dropped_total", "Events a plugin dropped, all teams.", &PluginTimings::dropped,
                "process_event");

  prometheus_header(out, "posthog_plugin_duration_seconds", "histogram", "process_event latency, all teams.");
  for (std::size_t slot = 0; slot < plugin_names_.size(); ++slot) {
    std::string labels = "plugin=\"";
    append_label(labels, plugin_names_[slot]);
    labels += "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= PluginTimings::bounds.size(); ++b) {
      for (auto const& w : workers_) cumulative += w[slot].buckets[b].get();
      out += "posthog_plugin_duration_seconds_bucket{" + labels + ",le=\"";
      if (b < PluginTimings::bounds.size()) append_number(out, PluginTimings::bounds[b]);
      else out += "+Inf";
      out += "\"} ";
      append_number(out, static_cast<double>(cumulative));
      out += '\n';
    }
    out += "posthog_plugin_duration_seconds_sum{" + labels + "} ";
    append_number(out, static_cast<double>(sum(slot, &PluginTimings::sum_ns)) * 1e-9);
    out += "\nposthog_plugin_duration_seconds_count{" + labels + "} ";
    append_number(out, static_cast<double>(cumulative));
    out += '\n';
  }
}

}  // namespace posthog::server
