#include "redis_team_registry.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "config/team_document.hpp"

namespace posthog::server {

namespace {

StoredTeam read_entry(std::int64_t id, const std::string& text, const std::string& key) {
  try {
    auto const v = boost::json::parse(text);
    if (v.at("deleted").as_bool()) return {TeamSpec{id, {}, {}}, true};
    return {team_from_json(v.at("team"), id), false};
  } catch (const std::exception& e) {
    throw std::runtime_error("Redis " + key + ": team " + std::to_string(id) + " cannot be read back: " + e.what());
  }
}

}  // namespace

void RedisTeamRegistry::save_team(const TeamSpec& team) {
  auto const entry = boost::json::serialize(boost::json::object{{"deleted", false}, {"team", team_to_json(team)}});
  pool_.with([&](RedisConnection& c) { return c.command({"HSET", key_, std::to_string(team.id), entry}).ok(); });
}

void RedisTeamRegistry::delete_team(std::int64_t team_id) {
  pool_.with([&](RedisConnection& c) {
    return c.command({"HSET", key_, std::to_string(team_id), R"({"deleted":true})"}).ok();
  });
}

std::vector<StoredTeam> RedisTeamRegistry::teams() {
  auto const r = pool_.with([&](RedisConnection& c) { return c.command({"HGETALL", key_}); });
  std::vector<StoredTeam> out;
  auto const& e = r.ok().elements;
  for (std::size_t i = 0; i + 1 < e.size(); i += 2) {
    std::int64_t id = 0;
    auto const& field = e[i].text;
    if (std::from_chars(field.data(), field.data() + field.size(), id).ec != std::errc()) continue;
    out.push_back(read_entry(id, e[i + 1].text, key_));
  }
  std::sort(out.begin(), out.end(), [](const StoredTeam& a, const StoredTeam& b) { return a.team.id < b.team.id; });
  return out;
}

std::optional<StoredTeam> RedisTeamRegistry::team(std::int64_t team_id) {
  auto const r = pool_.with([&](RedisConnection& c) { return c.command({"HGET", key_, std::to_string(team_id)}); });
  if (r.is_nil()) return std::nullopt;
  return read_entry(team_id, r.ok().text, key_);
}

}  // namespace posthog::server
