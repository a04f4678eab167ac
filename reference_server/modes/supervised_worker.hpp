// The worker process's side of serve.isolation: process
// (worker_supervisor.hpp has the other): a whole serve topology without
// capture, reading its batches from the supervisor over the channel,
// answering with its commits, its admin API on a private loopback port.
//
//   posthog-plugin-server worker --config FILE --channel-fd 3 --hook-calls-fd 4
//
// Started by the supervisor only. It ignores SIGTERM, SIGINT and SIGHUP (the
// supervisor says when to reload, quiesce and stop) and dies with its
// supervisor (PR_SET_PDEATHSIG): whatever it had not committed runs again.
#pragma once

#include "config/serve_settings.hpp"
#include "config/server_config.hpp"

namespace posthog::server {

int run_supervised_worker(ServerConfig config, ServeSettings settings, int channel_fd, int hook_calls_fd);

}  // namespace posthog::server
