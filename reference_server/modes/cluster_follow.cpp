#include "cluster_follow.hpp"

#include "config/team_document.hpp"
#include "generations/chain_set.hpp"
#include "generations/live_chains.hpp"
#include "sinks/fd_writer.hpp"
#include "diagnostics.hpp"
#include "hot_swap.hpp"

namespace posthog::server {

namespace {

// The stored team as this server can serve it, as at start-up: without the
// plugins this server does not declare (reported), and taking its token from
// a team of the config file that had it (that team keeps serving without one).
TeamSpec servable(const ChainSet& now, TeamSpec team, FdWriter& err) {
  std::erase_if(team.plugins, [&](const TeamPluginSpec& p) {
    if (now.instance(p.name)) return false;
    err.write(diagnostic_line({{"type", "cluster_error"}, {"team_id", team.id}, {"plugin", p.name},
                               {"message", "the team names a plugin this server does not run; it runs without it"}}));
    return true;
  });
  return team;
}

// Reads the team inside the update, under the same lock as an admin change on
// this server, so a newer local change cannot be overwritten by an older read.
bool apply_team(LiveChains& chains, HostServices& services, TeamRegistry& teams, std::int64_t id, FdWriter& err) {
  bool changed = false;
  chains.update([&](const ChainSet& now) -> std::shared_ptr<const ChainSet> {
    auto const stored = teams.team(id);
    if (!stored) return nullptr;  // never set through the API: the config file's team stays
    if (stored->deleted) {
      if (!now.team(id)) return nullptr;
      changed = true;
      return ChainSet::without_team(now, id);
    }
    auto const team = servable(now, stored->team, err);
    if (auto const* current = now.team(id); current && team_to_json(*current) == team_to_json(team)) return nullptr;
    std::shared_ptr<const ChainSet> base;
    if (auto const owner = now.team_for_token(team.token); owner && *owner != id) {
      TeamSpec other = *now.team(*owner);
      other.token.clear();
      base = ChainSet::with_team(now, other, services);
    }
    changed = true;
    return ChainSet::with_team(base ? *base : now, team, services);  // TeamDocumentError: reported by the bus
  });
  return changed;
}

}  // namespace

ClusterBus::Handler cluster_handler(LiveChains& chains, TeamRegistry& teams, HostServices& services, HotSwap& hot_swap,
                                    FdWriter& err) {
  return [&chains, &teams, &services, &hot_swap, &err](const boost::json::object& m) {
    auto const type = m.at("type").as_string();
    if (type == "team") {
      auto const id = m.at("id").to_number<std::int64_t>();
      if (apply_team(chains, services, teams, id, err))
        err.write(diagnostic_line({{"type", "cluster_team"}, {"team_id", id}, {"from", m.at("origin")}}));
      return;
    }
    if (type == "resync") {
      for (auto const& stored : teams.teams()) {
        try {
          apply_team(chains, services, teams, stored.team.id, err);
        } catch (const std::exception& e) {
          err.write(diagnostic_line({{"type", "cluster_error"}, {"team_id", stored.team.id}, {"message", e.what()}}));
        }
      }
      return;
    }
    if (type == "plugin") {
      std::string const name(m.at("name").as_string());
      std::string const hash(m.at("hash").as_string());
      auto& versions = hot_swap.versions();
      if (auto const serving = versions.current(name); serving && serving->content_hash() == hash) return;
      auto const previous = versions.previous(name);
      auto const result = previous && previous->content_hash() == hash ? hot_swap.swap().roll_back(name, "cluster")
                                                                        : hot_swap.swap().swap_in(name, "cluster");
      auto line = result.to_json();
      line["type"] = "cluster_swap";
      line["from"] = m.at("origin");
      auto const now = versions.current(name);
      if (result.outcome != SwapResult::Outcome::refused && now && now->content_hash() != hash) {
        line["type"] = "cluster_error";
        line["message"] = "this server's file for " + name + " is not the build swapped in on " +
                          std::string(m.at("origin").as_string()) + " (content hash " + now->content_hash() +
                          ", announced " + hash + "): deploy the same build to every server";
      }
      err.write(diagnostic_line(line));
      return;
    }
    err.write(diagnostic_line({{"type", "cluster_error"}, {"message", "unknown message type"}, {"message_type", type}}));
  };
}

}  // namespace posthog::server
