#include "job_metrics.hpp"

#include <map>

#include "job_runner.hpp"
#include "scheduler.hpp"

namespace posthog::server {

void render_job_metrics(std::string& out, JobRunner& jobs, Scheduler* schedules) {
  std::map<std::string, JobTally> by_plugin;
  for (auto const& [key, t] : jobs.tallies()) {
    auto& sum = by_plugin[key.second];
    sum.succeeded += t.succeeded;
    sum.retry_errors += t.retry_errors;
    sum.failed += t.failed;
    sum.scheduled_ok += t.scheduled_ok;
    sum.scheduled_failed += t.scheduled_failed;
  }
  out += "# HELP posthog_job_runs_total Runs of plugins' jobs by outcome: ok, retry (RetryError, run again "
         "later) or failed.\n# TYPE posthog_job_runs_total counter\n";
  for (auto const& [plugin, t] : by_plugin) {
    auto const label = "{plugin=\"" + plugin + "\",outcome=\"";
    out += "posthog_job_runs_total" + label + "ok\"} " + std::to_string(t.succeeded) + "\n";
    out += "posthog_job_runs_total" + label + "retry\"} " + std::to_string(t.retry_errors) + "\n";
    out += "posthog_job_runs_total" + label + "failed\"} " + std::to_string(t.failed) + "\n";
  }
  out += "# HELP posthog_scheduled_runs_total run_every_minute/hour/day calls by outcome.\n"
         "# TYPE posthog_scheduled_runs_total counter\n";
  for (auto const& [plugin, t] : by_plugin) {
    out += "posthog_scheduled_runs_total{plugin=\"" + plugin + "\",outcome=\"ok\"} " + std::to_string(t.scheduled_ok) + "\n";
    out += "posthog_scheduled_runs_total{plugin=\"" + plugin + "\",outcome=\"failed\"} " +
           std::to_string(t.scheduled_failed) + "\n";
  }
  auto const totals = jobs.queue().totals();
  out += "# HELP posthog_jobs Jobs in the store: queued (due or waiting for a retry), running, failed (kept until "
         "replayed).\n# TYPE posthog_jobs gauge\n";
  out += "posthog_jobs{state=\"queued\"} " + std::to_string(totals.queued) + "\n";
  out += "posthog_jobs{state=\"running\"} " + std::to_string(totals.running) + "\n";
  out += "posthog_jobs{state=\"failed\"} " + std::to_string(totals.failed) + "\n";
  if (!schedules) return;
  auto const states = schedules->state();
  out += "# HELP posthog_schedule_next_run_timestamp_seconds When each schedule's next period starts.\n"
         "# TYPE posthog_schedule_next_run_timestamp_seconds gauge\n";
  for (auto const& s : states)
    out += "posthog_schedule_next_run_timestamp_seconds{task=\"" + s.task + "\"} " +
           std::to_string(s.next_run_ms / 1000) + "\n";
  out += "# HELP posthog_schedule_runs_total Scheduled runs queued by this server, and those skipped because the "
         "previous run was still going.\n# TYPE posthog_schedule_runs_total counter\n";
  for (auto const& s : states) {
    out += "posthog_schedule_runs_total{task=\"" + s.task + "\",outcome=\"queued\"} " + std::to_string(s.runs_queued) + "\n";
    out += "posthog_schedule_runs_total{task=\"" + s.task + "\",outcome=\"skipped\"} " + std::to_string(s.runs_skipped) + "\n";
  }
}

}  // namespace posthog::server
