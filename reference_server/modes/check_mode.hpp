// Check mode: build everything a config asks for (modules, one instance per
// plugin, one copy per team and plugin), report it, and exit without serving.
//
//   posthog-plugin-server check --config FILE
//
// Prints one JSON object on stdout: teams, plugin copies, instances set up,
// how long the set-up took, resident memory after it, and every refusal (file,
// step, field, details). Exits 0 when nothing was refused, 3 otherwise, so
// deployments can validate a config before switching to it.
#pragma once

#include "config/server_config.hpp"

namespace posthog::server {

int run_check_mode(const ServerConfig& config, int output_fd);

}  // namespace posthog::server
