// The export counters in Prometheus text: PostHog's export metrics (events
// seen, delivered, undelivered; retry and other errors) per (team, plugin), as
// PostHog kept them per plugin config, and what waits in the store.
#pragma once

#include <string>

namespace posthog::server {

class ExportRunner;

void render_export_metrics(std::string& out, ExportRunner& exports);

}  // namespace posthog::server
