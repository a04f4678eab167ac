// Serve mode: PostHog's capture API over HTTP, each team's plugin chain, a sink.
//
//   posthog-plugin-server serve --config FILE
//
// Prints {"type": "listening", "url": ...} on stdout once it accepts requests,
// diagnostics (load errors, plugin logs and errors, a summary at exit) as JSON
// lines on stderr. An event answered 200 has been taken by the pipeline: it is
// in a bounded queue, and goes through its chain to the sink. When
// `max_inflight_events` are taken and not yet in the sink, requests get 503
// with Retry-After and nothing is taken, so memory stays bounded whatever
// clients send. SIGTERM or SIGINT: stop accepting connections, answer what was
// read, run everything taken through the chains into the sink, fsync, exit 0.
// With Redis, capture appends to the event stream instead and workers read it
// (serve.role: capture, worker or all); see stores/redis/event_stream.hpp.
#pragma once

#include "../config/serve_settings.hpp"
#include "../config/server_config.hpp"

namespace posthog::server {

struct ServeOptions {
  int output_fd = 1;
  int error_fd = 2;
  int max_capture_depth = 3;
};

int run_serve_mode(const ServerConfig& config, const ServeSettings& settings, const ServeOptions& options = {});

}  // namespace posthog::server
