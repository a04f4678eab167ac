// RedisTeamRegistry: the teams set through the admin API, in one Redis hash
// (<prefix>teams: team id -> {"deleted": bool, "team": document}), so that
// every server of a cluster starts from the same teams and re-reads one when
// the ClusterBus says it changed.
#pragma once

#include <string>

#include "stores/team_registry.hpp"
#include "redis_pool.hpp"

namespace posthog::server {

class RedisTeamRegistry final : public TeamRegistry {
 public:
  RedisTeamRegistry(RedisPool& pool, std::string prefix) : pool_(pool), key_(std::move(prefix) + "teams") {}

  void save_team(const TeamSpec& team) override;
  void delete_team(std::int64_t team_id) override;
  std::vector<StoredTeam> teams() override;
  std::optional<StoredTeam> team(std::int64_t team_id) override;

 private:
  RedisPool& pool_;
  std::string key_;
};

}  // namespace posthog::server
