// What a team's id, project token and plugin configs may be: the one set of
// rules the config file, the admin API and capture all apply, so that nothing
// is accepted in one place that another can never match.
//
//   if (auto why = project_token_problem(token)) refuse("token", *why);
//   if (auto why = team_id_problem(id)) refuse("id", *why);
//   if (auto why = plugin_config_problem(config)) refuse(why->field, why->message);
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace posthog::server {

// PostHog capture's rule: at most 64 printable ASCII characters, not a
// personal API key (phx_...). The message says which part is broken.
std::optional<std::string> project_token_problem(std::string_view token);

// 1 .. 2^53-1: positive, and exact in every JSON reader (the admin console's included).
constexpr std::int64_t max_team_id = (std::int64_t(1) << 53) - 1;
std::optional<std::string> team_id_problem(std::int64_t id);

// A config is copied into the plugin's team copy and, by plugins such as
// helloworld, into every event of the team: each string value is held to
// 64 KiB and a whole config to 1 MiB as JSON text. Larger data belongs in an
// attachment (16 MiB, read once at set-up).
constexpr std::size_t max_config_string_bytes = 64 << 10;
constexpr std::size_t max_config_bytes = 1 << 20;
struct ConfigProblem {
  std::string field;  // the key at fault, "" for the whole config
  std::string message;
};
std::optional<ConfigProblem> plugin_config_problem(const boost::json::object& config);

}  // namespace posthog::server
