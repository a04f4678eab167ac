// Teams set or deleted through the admin API win over the config file's:
// what serve mode serves at start is the file's teams with the stored ones
// applied (stores/team_registry.hpp keeps them, in SQLite or Redis).
#pragma once

#include "config/server_config.hpp"
#include "sinks/fd_writer.hpp"
#include "stores/team_registry.hpp"

namespace posthog::server {

// A stored team naming a plugin the file no longer declares runs without it;
// a file team whose token a stored team now owns loses it; both reported on
// `err`. Redis out of reach: the file's teams, reported.
ServerConfig with_stored_teams(ServerConfig config, TeamRegistry& registry, FdWriter& err);

}  // namespace posthog::server
