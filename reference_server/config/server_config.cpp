#include "server_config.hpp"

#include <boost/json/parse.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "team_rules.hpp"

namespace posthog::server {
namespace {

// Plugin settings are the plugin's business, except for one convenience: the
// text ${config_dir} in any string is replaced by the config file's folder, so
// a config can name files next to it (a GeoIP database) wherever it is run from.
void expand_config_dir(boost::json::value& v, const std::string& dir) {
  constexpr std::string_view token = "${config_dir}";
  if (v.is_string()) {
    std::string s(v.get_string());
    for (auto at = s.find(token); at != std::string::npos; at = s.find(token, at + dir.size())) s.replace(at, token.size(), dir);
    v = s;
  } else if (v.is_array()) {
    for (auto& e : v.get_array()) expand_config_dir(e, dir);
  } else if (v.is_object()) {
    for (auto& kv : v.get_object()) expand_config_dir(kv.value(), dir);
  }
}

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& why) const {
    throw ConfigFileError(source_ + ": " + path + ": " + why);
  }
  const boost::json::object& object(const boost::json::value& v, const std::string& path) const {
    if (!v.is_object()) fail(path, "must be an object");
    return v.get_object();
  }
  const boost::json::array& array(const boost::json::object& o, std::string_view key, const std::string& path) const {
    auto const* v = o.if_contains(key);
    static const boost::json::array empty;
    if (!v) return empty;
    if (!v->is_array()) fail(path + "." + std::string(key), "must be an array");
    return v->get_array();
  }
  std::string string(const boost::json::object& o, std::string_view key, const std::string& path, bool required) const {
    auto const* v = o.if_contains(key);
    if (!v || v->is_null()) {
      if (required) fail(path + "." + std::string(key), "is missing");
      return {};
    }
    if (!v->is_string()) fail(path + "." + std::string(key), "must be a string");
    return std::string(v->get_string());
  }
  boost::json::object sub_object(const boost::json::object& o, std::string_view key, const std::string& path) const {
    auto const* v = o.if_contains(key);
    if (!v || v->is_null()) return {};
    if (!v->is_object()) fail(path + "." + std::string(key), "must be an object");
    return v->get_object();
  }
  std::int64_t integer(const boost::json::object& o, std::string_view key, const std::string& path,
                       bool required, std::int64_t fallback = 0) const {
    auto const* v = o.if_contains(key);
    if (!v) {
      if (required) fail(path + "." + std::string(key), "is missing");
      return fallback;
    }
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64() && v->get_uint64() <= INT64_MAX) return static_cast<std::int64_t>(v->get_uint64());
    fail(path + "." + std::string(key), "must be an integer");
  }

 private:
  std::string source_;
};

}  // namespace

ServerConfig ServerConfig::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigFileError(file.string() + ": cannot open the config file");
  std::stringstream text;
  text << in.rdbuf();
  auto base = file.parent_path();
  return parse(text.str(), base.empty() ? std::filesystem::path(".") : base, file.string());
}

ServerConfig ServerConfig::parse(std::string_view json_text, const std::filesystem::path& base_dir,
                                 const std::string& source_name) {
  Reader r(source_name);
  std::error_code ec;
  auto root_value = boost::json::parse(json_text, ec);
  if (ec) throw ConfigFileError(source_name + ": not valid JSON: " + ec.message());
  auto const& root = r.object(root_value, "$");

  ServerConfig c;
  c.base_dir = base_dir;
  c.serve = r.sub_object(root, "serve", "$");
  auto dir = r.string(root, "plugins_dir", "$", false);
  c.plugins_dir = dir.empty() ? base_dir
                 : std::filesystem::path(dir).is_absolute() ? std::filesystem::path(dir) : base_dir / dir;
  auto workers = r.integer(root, "workers", "$", false, 0);
  if (workers < 0 || workers > 1024) r.fail("$.workers", "must be between 0 (one per core) and 1024");
  c.workers = static_cast<unsigned>(workers);
  if (auto const* watch = root.if_contains("watch_plugins")) {
    if (!watch->is_bool()) r.fail("$.watch_plugins", "must be true or false");
    c.watch_plugins = watch->get_bool();
  }

  std::set<std::string> plugin_names;
  auto const& plugins = r.array(root, "plugins", "$");
  for (std::size_t i = 0; i < plugins.size(); ++i) {
    std::string path = "$.plugins[" + std::to_string(i) + "]";
    auto const& p = r.object(plugins[i], path);
    PluginSpec spec;
    spec.name = r.string(p, "name", path, true);
    if (spec.name.empty()) r.fail(path + ".name", "must not be empty");
    if (!plugin_names.insert(spec.name).second) r.fail(path + ".name", "'" + spec.name + "' is listed twice");
    auto file = r.string(p, "file", path, false);
    if (file.empty()) spec.file = c.plugins_dir / (spec.name + ".so");
    else spec.file = std::filesystem::path(file).is_absolute() ? std::filesystem::path(file) : base_dir / file;
    spec.settings = r.sub_object(p, "settings", path);
    boost::json::value settings(std::move(spec.settings));
    expand_config_dir(settings, base_dir.empty() ? std::string(".") : base_dir.string());
    spec.settings = std::move(settings.get_object());
    c.plugins.push_back(std::move(spec));
  }

  std::set<std::int64_t> team_ids;
  std::set<std::string> tokens;
  auto const& teams = r.array(root, "teams", "$");
  for (std::size_t i = 0; i < teams.size(); ++i) {
    std::string path = "$.teams[" + std::to_string(i) + "]";
    auto const& t = r.object(teams[i], path);
    TeamSpec team;
    team.id = r.integer(t, "id", path, true);
    if (auto why = team_id_problem(team.id)) r.fail(path + ".id", *why);
    if (!team_ids.insert(team.id).second) r.fail(path + ".id", "team " + std::to_string(team.id) + " is listed twice");
    team.token = r.string(t, "token", path, false);
    if (!team.token.empty())
      if (auto why = project_token_problem(team.token)) r.fail(path + ".token", *why + ": capture could never match it");
    if (!team.token.empty() && !tokens.insert(team.token).second)
      r.fail(path + ".token", "token '" + team.token + "' belongs to another team too");
    auto const& chain = r.array(t, "plugins", path);
    for (std::size_t j = 0; j < chain.size(); ++j) {
      std::string ppath = path + ".plugins[" + std::to_string(j) + "]";
      auto const& p = r.object(chain[j], ppath);
      TeamPluginSpec spec;
      spec.name = r.string(p, "name", ppath, true);
      if (!plugin_names.count(spec.name))
        r.fail(ppath + ".name", "'" + spec.name + "' is not declared in $.plugins");
      if (auto const* e = p.if_contains("enabled")) {
        if (!e->is_bool()) r.fail(ppath + ".enabled", "must be true or false");
        spec.enabled = e->get_bool();
      }
      spec.config = r.sub_object(p, "config", ppath);
      if (auto why = plugin_config_problem(spec.config))
        r.fail(ppath + ".config" + (why->field.empty() ? "" : "." + why->field), why->message);
      team.plugins.push_back(std::move(spec));
    }
    c.teams.push_back(std::move(team));
  }
  return c;
}

}  // namespace posthog::server
