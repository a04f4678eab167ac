// The job and schedule counters in Prometheus text: job runs by outcome per
// plugin, what waits in the store, and when each schedule runs next.
#pragma once

#include <string>

namespace posthog::server {

class JobRunner;
class Scheduler;

void render_job_metrics(std::string& out, JobRunner& jobs, Scheduler* schedules);

}  // namespace posthog::server
