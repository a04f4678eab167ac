#include "export_metrics.hpp"

#include "metrics/prometheus_text.hpp"
#include "export_runner.hpp"

namespace posthog::server {

void render_export_metrics(std::string& out, ExportRunner& exports) {
  auto const tallies = exports.tallies();
  auto labels = [](std::string& out, std::int64_t team, const std::string& plugin) {
    out += "{team=\"" + std::to_string(team) + "\",plugin=\"";
    append_label(out, plugin);
    out += '"';
  };
  prometheus_header(out, "posthog_export_events_total", "counter",
                    "Events queued for export_events (seen), taken by the plugin (delivered), or given up on "
                    "(undelivered), per team: PostHog's export metrics.");
  for (auto const& [key, t] : tallies) {
    for (auto const& [outcome, n] : {std::pair{"seen", t.events_seen}, std::pair{"delivered", t.events_delivered},
                                     std::pair{"undelivered", t.events_undelivered}}) {
      out += "posthog_export_events_total";
      labels(out, key.first, key.second);
      out += ",outcome=\"" + std::string(outcome) + "\"} " + std::to_string(n) + "\n";
    }
  }
  prometheus_header(out, "posthog_export_errors_total", "counter",
                    "export_events calls that failed, per team: RetryError (retried) or other.");
  for (auto const& [key, t] : tallies) {
    for (auto const& [kind, n] : {std::pair{"retry", t.retry_errors}, std::pair{"other", t.other_errors}}) {
      out += "posthog_export_errors_total";
      labels(out, key.first, key.second);
      out += ",kind=\"" + std::string(kind) + "\"} " + std::to_string(n) + "\n";
    }
  }
  auto const totals = exports.queue().totals();
  prometheus_sample(out, "posthog_export_pending_events", "gauge", "Events waiting to be cut into an export batch.",
                    static_cast<double>(totals.pending_events));
  prometheus_sample(out, "posthog_export_retrying_batches", "gauge", "Export batches waiting for their next attempt.",
                    static_cast<double>(totals.retrying_batches));
  prometheus_sample(out, "posthog_export_dead_batches", "gauge", "Export batches out of retries, kept until replayed.",
                    static_cast<double>(totals.dead_batches));
}

}  // namespace posthog::server
