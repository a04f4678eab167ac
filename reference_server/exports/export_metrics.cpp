#include "export_metrics.hpp"

#include <map>

#include "export_runner.hpp"

namespace posthog::server {

void render_export_metrics(std::string& out, ExportRunner& exports) {
  std::map<std::string, ExportTally> by_plugin;
  for (auto const& [key, t] : exports.tallies()) {
    auto& sum = by_plugin[key.second];
    sum.events_seen += t.events_seen;
    sum.events_delivered += t.events_delivered;
    sum.events_undelivered += t.events_undelivered;
    sum.retry_errors += t.retry_errors;
    sum.other_errors += t.other_errors;
  }
  out += "# HELP posthog_export_events_total Events queued for export_events (seen), taken by the plugin "
         "(delivered), or given up on (undelivered).\n# TYPE posthog_export_events_total counter\n";
  for (auto const& [plugin, t] : by_plugin) {
    auto const label = "{plugin=\"" + plugin + "\",outcome=\"";
    out += "posthog_export_events_total" + label + "seen\"} " + std::to_string(t.events_seen) + "\n";
    out += "posthog_export_events_total" + label + "delivered\"} " + std::to_string(t.events_delivered) + "\n";
    out += "posthog_export_events_total" + label + "undelivered\"} " + std::to_string(t.events_undelivered) + "\n";
  }
  out += "# HELP posthog_export_errors_total export_events calls that failed: RetryError (retried) or other.\n"
         "# TYPE posthog_export_errors_total counter\n";
  for (auto const& [plugin, t] : by_plugin) {
    out += "posthog_export_errors_total{plugin=\"" + plugin + "\",kind=\"retry\"} " + std::to_string(t.retry_errors) + "\n";
    out += "posthog_export_errors_total{plugin=\"" + plugin + "\",kind=\"other\"} " + std::to_string(t.other_errors) + "\n";
  }
  auto const totals = exports.queue().totals();
  out += "# HELP posthog_export_pending_events Events waiting to be cut into an export batch.\n"
         "# TYPE posthog_export_pending_events gauge\nposthog_export_pending_events " +
         std::to_string(totals.pending_events) + "\n";
  out += "# HELP posthog_export_retrying_batches Export batches waiting for their next attempt.\n"
         "# TYPE posthog_export_retrying_batches gauge\nposthog_export_retrying_batches " +
         std::to_string(totals.retrying_batches) + "\n";
  out += "# HELP posthog_export_dead_batches Export batches out of retries, kept until replayed.\n"
         "# TYPE posthog_export_dead_batches gauge\nposthog_export_dead_batches " +
         std::to_string(totals.dead_batches) + "\n";
}

}  // namespace posthog::server
