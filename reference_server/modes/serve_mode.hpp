// Serve mode: PostHog's capture API over HTTP, each team's plugin chain, a sink.
//
//   posthog-plugin-server serve --config FILE
//
// Prints {"type": "listening", "url": ...} on stdout once it accepts requests,
// diagnostics (load errors, plugin logs and errors, a summary at exit) as JSON
// lines on stderr. An event answered 200 is in the event log (on disk, as
// serve.log.fsync says; in Redis with Redis), and goes from there through its
// chain to the sink; a crash loses none of it (serve_topology.hpp has the
// graph). When the log is full, requests get 503 with Retry-After and nothing
// is taken. SIGTERM or SIGINT: stop accepting connections, answer what was
// read, run everything in the log through the chains into the sink, exit 0.
// With Redis, capture servers append to the event stream and workers read it
// (serve.role: capture, worker or all).
#pragma once

#include <boost/json/object.hpp>

#include <functional>
#include <string>
#include <vector>

#include "config/serve_settings.hpp"
#include "config/server_config.hpp"

namespace posthog::server {

class RemoteLog;
struct WorkerCrash;

// serve.isolation: process. What a worker process is given by its supervisor
// (modes/worker_supervisor.hpp): the log, reached over the channel, and the
// crashes so far, applied before any plugin is set up.
struct SupervisedRun {
  RemoteLog* log = nullptr;
  std::vector<WorkerCrash> crashes;
  std::size_t fresh_crashes = 0;  // the last ones: first heard of by this worker
  // A report to the supervisor: {"type": "ready" | "teams" | "summary", ...}.
  std::function<void(boost::json::object)> report;
};

struct ServeOptions {
  int output_fd = 1;
  int error_fd = 2;
  int max_capture_depth = 3;
  const SupervisedRun* supervised = nullptr;  // set in a supervised worker process
  std::string config_file;  // the config's path, for the worker processes (serve.isolation: process)
};

// Takes the config whole: once the server is built from it, it is let go.
int run_serve_mode(ServerConfig config, const ServeSettings& settings, const ServeOptions& options = {});

}  // namespace posthog::server
