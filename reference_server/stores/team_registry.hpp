// TeamRegistry: where teams set through the admin API are kept, so that they
// survive a restart and win over the config file's. The embedded store keeps
// them for one server; with Redis every server of a cluster reads the same
// ones (and hears of changes through the ClusterBus).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "config/server_config.hpp"

namespace posthog::server {

struct StoredTeam {
  TeamSpec team;
  bool deleted = false;  // deleted through the admin API: the config file's team of that id is gone too
};

class TeamRegistry {
 public:
  virtual ~TeamRegistry() = default;
  virtual void save_team(const TeamSpec& team) = 0;
  virtual void delete_team(std::int64_t team_id) = 0;  // kept as a marker
  virtual std::vector<StoredTeam> teams() = 0;
  // nullopt: never set through the admin API.
  virtual std::optional<StoredTeam> team(std::int64_t team_id) {
    for (auto& t : teams())
      if (t.team.id == team_id) return t;
    return std::nullopt;
  }
};

}  // namespace posthog::server
