// The capture side's /metrics: requests refused, each port's connections, the
// event log. Said by whichever process owns capture and the log: a server
// running its own chains, or the supervisor of worker processes.
#pragma once

#include <string>

#include "http/http_server.hpp"
#include "log/event_log.hpp"
#include "sources/capture_endpoint.hpp"

namespace posthog::server {

// `segments`: the embedded log (its bytes, segments, fsyncs); else a stream.
void render_capture_metrics(std::string& text, const CaptureEndpoint& capture, const HttpServer* capture_port,
                            const HttpServer* admin_port, const LogStatus& log, bool segments);

}  // namespace posthog::server
