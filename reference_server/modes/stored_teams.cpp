#include "stored_teams.hpp"

#include <algorithm>

#include "stores/redis/redis_connection.hpp"
#include "diagnostics.hpp"

namespace posthog::server {

ServerConfig with_stored_teams(ServerConfig config, TeamRegistry& registry, FdWriter& err) {
  std::vector<StoredTeam> stored;
  try {
    stored = registry.teams();
  } catch (const RedisUnavailable& e) {
    // The file's teams serve meanwhile; the cluster bus resyncs when Redis is back.
    err.write(diagnostic_line({{"type", "store_team_error"}, {"message", std::string("teams set through the admin "
                                                                                     "API not read yet: ") + e.what()}}));
    return config;
  }
  for (auto const& s : stored) {
    if (s.deleted)
      std::erase_if(config.teams, [&](const TeamSpec& t) { return t.id == s.team.id; });
  }
  for (auto const& s : stored) {
    if (s.deleted) continue;
    for (auto& t : config.teams) {
      if (t.id == s.team.id || t.token.empty() || t.token != s.team.token) continue;
      err.write(diagnostic_line({{"type", "store_team_error"}, {"team_id", t.id},
                                 {"message", "team " + std::to_string(s.team.id) +
                                                 " (set through the admin API) owns this team's token now; "
                                                 "this team gets no events until it has another"}}));
      t.token.clear();
    }
  }
  for (auto const& s : stored) {
    if (s.deleted) continue;
    auto team = s.team;
    std::erase_if(team.plugins, [&](const TeamPluginSpec& p) {
      bool const declared = std::any_of(config.plugins.begin(), config.plugins.end(),
                                        [&](const PluginSpec& s) { return s.name == p.name; });
      if (!declared)
        err.write(diagnostic_line({{"type", "store_team_error"}, {"team_id", team.id}, {"plugin", p.name},
                                   {"message", "the stored chain names a plugin the config file does not declare; "
                                               "the team runs without it"}}));
      return !declared;
    });
    auto it = std::find_if(config.teams.begin(), config.teams.end(), [&](const TeamSpec& t) { return t.id == team.id; });
    if (it != config.teams.end()) *it = std::move(team);
    else config.teams.push_back(std::move(team));
  }
  return config;
}


}  // namespace posthog::server
