#include "cluster_follow.hpp"

#include "../config/team_document.hpp"
#include "../pipeline/chain_set.hpp"
#include "../pipeline/live_chains.hpp"
#include "../sinks/fd_writer.hpp"
#include "diagnostics.hpp"
#include "hot_swap.hpp"

namespace posthog::server {

namespace {

// True when the set changed.
bool apply_team(LiveChains& chains, HostServices& services, std::int64_t id, const std::optional<StoredTeam>& stored) {
  bool changed = false;
  chains.update([&](const ChainSet& now) -> std::shared_ptr<const ChainSet> {
    if (!stored) return nullptr;  // never set through the API: the config file's team stays
    if (stored->deleted) {
      if (!now.team(id)) return nullptr;
      changed = true;
      return ChainSet::without_team(now, id);
    }
    if (auto const* current = now.team(id); current && team_to_json(*current) == team_to_json(stored->team))
      return nullptr;
    changed = true;
    return ChainSet::with_team(now, stored->team, services);  // TeamDocumentError: reported by the bus
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
      if (apply_team(chains, services, id, teams.team(id)))
        err.write(diagnostic_line({{"type", "cluster_team"}, {"team_id", id}, {"from", m.at("origin")}}));
      return;
    }
    if (type == "resync") {
      for (auto const& stored : teams.teams()) {
        try {
          apply_team(chains, services, stored.team.id, stored);
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
      if (result.outcome == SwapResult::Outcome::swapped && now && now->content_hash() != hash) {
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
