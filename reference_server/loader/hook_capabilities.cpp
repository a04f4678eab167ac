#include "hook_capabilities.hpp"

namespace posthog::server {

std::vector<std::string> capability_disagreements(std::uint64_t capabilities, const posthog_plugin_vtable& table,
                                                  std::size_t declared_metrics) {
  std::vector<std::string> lines;
  const char* const fix = "; the two come from one class: rebuild the module with POSTHOG_PLUGIN(Class)";
  auto agree = [&](std::uint64_t bit, bool in_table, const std::string& hook, const char* table_has) {
    bool const listed = (capabilities & bit) != 0;
    if (listed && !in_table)
      lines.push_back(hook + ": the descriptor's capabilities list it, the hook table has no " + table_has + fix);
    else if (!listed && in_table)
      lines.push_back(hook + ": the hook table has " + table_has + ", the descriptor's capabilities do not list it" +
                      fix);
  };
  bool const process_event = hook_present(table, &posthog_plugin_vtable::process_event);
  agree(POSTHOG_CAP_PROCESS_EVENT, process_event, "process_event", "process_event");
  agree(POSTHOG_CAP_ON_EVENT, hook_present(table, &posthog_plugin_vtable::on_event), "on_event", "on_event");
  agree(POSTHOG_CAP_EXPORT_EVENTS, hook_present(table, &posthog_plugin_vtable::export_events), "export_events",
        "export_events");
  agree(POSTHOG_CAP_RUN_EVERY_MINUTE, hook_present(table, &posthog_plugin_vtable::run_every_minute),
        "run_every_minute", "run_every_minute");
  agree(POSTHOG_CAP_RUN_EVERY_HOUR, hook_present(table, &posthog_plugin_vtable::run_every_hour), "run_every_hour",
        "run_every_hour");
  agree(POSTHOG_CAP_RUN_EVERY_DAY, hook_present(table, &posthog_plugin_vtable::run_every_day), "run_every_day",
        "run_every_day");
  agree(POSTHOG_CAP_JOBS, hook_present(table, &posthog_plugin_vtable::run_job), "jobs", "run_job");
  bool const metrics_listed = (capabilities & POSTHOG_CAP_METRICS) != 0;
  if (metrics_listed && declared_metrics == 0)
    lines.push_back(std::string("metrics: the descriptor's capabilities list it, declared_metrics names none") + fix);
  else if (!metrics_listed && declared_metrics > 0)
    lines.push_back("metrics: declared_metrics names " + std::to_string(declared_metrics) +
                    ", the descriptor's capabilities do not list it" + fix);
  if ((capabilities & POSTHOG_CAP_PROCESS_EVENT_NOEXCEPT) && !process_event)
    lines.push_back(std::string("process_event_noexcept: the descriptor's capabilities list it, the hook table has "
                                "no process_event") +
                    fix);
  return lines;
}

}  // namespace posthog::server
