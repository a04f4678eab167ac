#include "team_rules.hpp"

#include <boost/json/serialize.hpp>

namespace posthog::server {
namespace {

// The largest string anywhere inside a value (a "json" config field nests).
std::size_t longest_string(const boost::json::value& v) {
  if (v.is_string()) return v.get_string().size();
  std::size_t longest = 0;
  if (v.is_array())
    for (auto const& e : v.get_array()) longest = std::max(longest, longest_string(e));
  if (v.is_object())
    for (auto const& kv : v.get_object()) longest = std::max({longest, kv.key().size(), longest_string(kv.value())});
  return longest;
}

}  // namespace

std::optional<std::string> project_token_problem(std::string_view token) {
  if (token.empty()) return "the project token is empty";
  if (token.size() > 64) return "the project token is longer than 64 characters";
  for (unsigned char c : token)
    if (c < 0x21 || c > 0x7e) return "the project token has characters other than printable ASCII (no spaces)";
  if (token.substr(0, 4) == "phx_") return "this is a personal API key (phx_...): send the project token (phc_...) instead";
  return std::nullopt;
}

std::optional<std::string> team_id_problem(std::int64_t id) {
  if (id < 1 || id > max_team_id)
    return "a team id is a whole number from 1 to " + std::to_string(max_team_id) + ", not " + std::to_string(id);
  return std::nullopt;
}

std::optional<ConfigProblem> plugin_config_problem(const boost::json::object& config) {
  for (auto const& kv : config)
    if (longest_string(kv.value()) > max_config_string_bytes)
      return ConfigProblem{std::string(kv.key()), "a config value may hold strings of at most " +
                                                      std::to_string(max_config_string_bytes) +
                                                      " bytes; put larger data in an attachment"};
  if (auto const size = boost::json::serialize(config).size(); size > max_config_bytes)
    return ConfigProblem{"", "a plugin's config may be at most " + std::to_string(max_config_bytes) +
                                 " bytes as JSON, not " + std::to_string(size) + "; put larger data in an attachment"};
  return std::nullopt;
}

}  // namespace posthog::server
