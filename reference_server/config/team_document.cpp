#include "team_document.hpp"

#include "team_rules.hpp"

namespace posthog::server {

boost::json::object team_to_json(const TeamSpec& team) {
  boost::json::array plugins;
  for (auto const& p : team.plugins)
    plugins.push_back(boost::json::object{{"name", p.name}, {"enabled", p.enabled}, {"config", p.config}});
  return {{"id", team.id}, {"token", team.token}, {"plugins", std::move(plugins)}};
}

TeamSpec team_from_json(const boost::json::value& document, std::int64_t id) {
  using E = TeamDocumentError;
  if (!document.is_object()) throw E("", "a team is a JSON object: {\"token\": ..., \"plugins\": [...]}");
  auto const& o = document.get_object();
  for (auto const& kv : o)
    if (kv.key() != "id" && kv.key() != "token" && kv.key() != "plugins")
      throw E(std::string(kv.key()), "unknown field (a team has id, token and plugins)");
  TeamSpec team;
  if (auto why = team_id_problem(id)) throw E("id", *why);
  team.id = id;
  if (auto const* v = o.if_contains("id")) {
    if (!v->is_int64() || v->get_int64() != id)
      throw E("id", "must be " + std::to_string(id) + ", the team in the URL, or left out");
  }
  auto const* token = o.if_contains("token");
  if (!token || !token->is_string() || token->get_string().empty())
    throw E("token", "must be the team's project token, a non-empty string");
  if (auto why = project_token_problem(token->get_string())) throw E("token", *why + ": capture could never match it");
  team.token = std::string(token->get_string());
  auto const* plugins = o.if_contains("plugins");
  if (!plugins || !plugins->is_array()) throw E("plugins", "must be an array (the chain, in order)");
  auto const& list = plugins->get_array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string const at = "plugins[" + std::to_string(i) + "]";
    if (!list[i].is_object()) throw E(at, "must be an object like {\"name\": \"geoip\", \"config\": {}}");
    auto const& p = list[i].get_object();
    TeamPluginSpec spec;
    // "status" is what the admin API reports (health, set-up): read-only, so a
    // team read with GET can be PUT back as it is.
    for (auto const& kv : p)
      if (kv.key() != "name" && kv.key() != "enabled" && kv.key() != "config" && kv.key() != "status")
        throw E(at + "." + std::string(kv.key()), "unknown field (a chain entry has name, enabled and config)");
    auto const* name = p.if_contains("name");
    if (!name || !name->is_string() || name->get_string().empty()) throw E(at + ".name", "must be a plugin's name");
    spec.name = std::string(name->get_string());
    if (auto const* e = p.if_contains("enabled")) {
      if (!e->is_bool()) throw E(at + ".enabled", "must be true or false");
      spec.enabled = e->get_bool();
    }
    if (auto const* c = p.if_contains("config"); c && !c->is_null()) {
      if (!c->is_object()) throw E(at + ".config", "must be an object");
      if (auto why = plugin_config_problem(c->get_object()))
        throw E(at + ".config" + (why->field.empty() ? "" : "." + why->field), why->message);
      spec.config = c->get_object();
    }
    team.plugins.push_back(std::move(spec));
  }
  return team;
}

}  // namespace posthog::server
