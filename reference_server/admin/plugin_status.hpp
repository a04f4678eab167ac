// How one (team, plugin) is doing, as the admin API shows it: its health
// (state, tokens left, pause, the last transition and the newest ones, each
// with its reason), how its set-up is going, and the metrics it declared.
// A pair with no state kept yet (team_plugin_states.hpp) is healthy, set up,
// and has declared nothing.
#pragma once

#include <boost/json/object.hpp>

#include "health/team_plugin_states.hpp"

namespace posthog::server {

// ISO 8601 text of a time in epoch milliseconds; null for 0 or less.
boost::json::value iso_time_or_null(std::int64_t ms);

boost::json::object plugin_status_json(const TeamPluginStates& states, const TeamPluginState* state);
// The short form listed with each plugin of a team: {"health", "setup"}.
boost::json::object plugin_status_summary(const TeamPluginStates& states, const TeamPluginState* state);

}  // namespace posthog::server
