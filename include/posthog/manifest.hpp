// posthog/manifest.hpp: plugin.json, PostHog's plugin manifest, and the config
// schema it declares.
//
// The format is PostHog's (name, description, url, config[] with key, name, type
// string|json|choice|attachment, default, hint, required, secret, choices, ...)
// plus a `version`, which a native module needs for upgrades and hot swap.
// Entries of `config` that carry only `markdown` are UI text and are skipped.
//
//   auto manifest = posthog::Manifest::parse(R"({"name": "hello", "version": "1.0.0",
//       "config": [{"key": "bar", "name": "Bar", "type": "string", "default": "baz"}]})");
//   boost::json::object team_config = manifest.validate_config(given);  // throws ConfigError
//
// validate_config() applies defaults, checks types, required fields and choices,
// parses `json` fields, rejects unknown keys, and names the field at fault.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "errors.hpp"

namespace posthog {

enum class ConfigFieldType { string, json, choice, attachment };

inline std::string_view to_string(ConfigFieldType t) noexcept {
  switch (t) {
    case ConfigFieldType::string: return "string";
    case ConfigFieldType::json: return "json";
    case ConfigFieldType::choice: return "choice";
    case ConfigFieldType::attachment: return "attachment";
  }
  return "unknown";
}

struct ConfigField {
  std::string key;
  std::string name;
  ConfigFieldType type = ConfigFieldType::string;
  std::optional<boost::json::value> default_value;
  std::string hint;
  bool required = false;
  bool secret = false;
  std::vector<std::string> choices;
};

class Manifest {
 public:
  std::string name;
  std::string version;
  std::string description;
  std::string url;
  std::vector<ConfigField> config;
  boost::json::object raw;  // the whole plugin.json, for tools and the admin API

  // Parses and checks plugin.json text. Throws ManifestError naming the field.
  static Manifest parse(std::string_view json_text) {
    std::error_code ec;
    boost::json::value v = boost::json::parse(json_text, ec);
    if (ec) throw ManifestError("", "not valid JSON: " + ec.message());
    if (!v.is_object()) throw ManifestError("", "must be a JSON object");
    return from_object(std::move(v.get_object()));
  }

  static Manifest from_object(boost::json::object object) {
    Manifest m;
    m.name = required_string(object, "name");
    if (m.name.empty()) throw ManifestError("name", "must not be empty");
    m.version = required_string(object, "version");
    if (m.version.empty()) throw ManifestError("version", "must not be empty");
    m.description = optional_string(object, "description");
    m.url = optional_string(object, "url");
    if (auto const* cfg = object.if_contains("config")) {
      if (!cfg->is_array()) throw ManifestError("config", "must be an array of fields");
      std::size_t index = 0;
      for (auto const& entry : cfg->get_array()) {
        std::string path = "config[" + std::to_string(index++) + "]";
        if (!entry.is_object()) throw ManifestError(path, "must be an object");
        auto const& e = entry.get_object();
        if (!e.contains("key") && e.contains("markdown")) continue;  // a UI text block
        m.config.push_back(parse_field(e, path));
        for (std::size_t i = 0; i + 1 < m.config.size(); ++i)
          if (m.config[i].key == m.config.back().key)
            throw ManifestError(path + ".key", "duplicate key '" + m.config.back().key + "'");
      }
    }
    m.raw = std::move(object);
    return m;
  }

  // PostHog's export options (src/worker/vm/upgrades/export-events.ts), which
  // every plugin with export_events takes whether its plugin.json declares
  // them or not: the server adds them to its schema (and the test harness too).
  static constexpr std::string_view export_fields[] = {"exportEventsToIgnore", "exportEventsBufferBytes",
                                                        "exportEventsBufferSeconds"};
  void add_export_fields() {
    static constexpr const char* hints[] = {
        "Comma-separated event names that are never handed to export_events",
        "Pending bytes that start an export batch (1 to 104857600; default 1 MiB)",
        "Age in seconds of the oldest pending event that starts an export batch (1 to 600; default 10)"};
    for (std::size_t i = 0; i < std::size(export_fields); ++i) {
      if (field(export_fields[i])) continue;
      ConfigField f;
      f.key = std::string(export_fields[i]);
      f.name = f.key;
      f.hint = hints[i];
      config.push_back(std::move(f));
    }
  }

  const ConfigField* field(std::string_view key) const noexcept {
    for (auto const& f : config)
      if (f.key == key) return &f;
    return nullptr;
  }

  // Checks a team's config against the schema and returns it normalised:
  // defaults applied, json fields parsed. Throws ConfigError naming the field.
  boost::json::object validate_config(const boost::json::object& given) const {
    for (auto const& kv : given) {
      if (!field(kv.key())) {
        std::string known;
        for (auto const& f : config) known += (known.empty() ? "" : ", ") + f.key;
        throw ConfigError(std::string(kv.key()),
                          "unknown field for plugin '" + name + "' (its schema has: " +
                              (known.empty() ? "no fields" : known) + ")");
      }
    }
    boost::json::object out;
    for (auto const& f : config) {
      const boost::json::value* v = given.if_contains(f.key);
      if (v && (v->is_null() || (v->is_string() && v->get_string().empty()))) v = nullptr;
      if (!v && f.default_value) v = &*f.default_value;
      if (!v) {
        if (f.required) throw ConfigError(f.key, "is required and has no default");
        continue;
      }
      out[f.key] = check_value(f, *v);
    }
    return out;
  }

  // A copy of a config with every secret field replaced by "********".
  boost::json::object redact(const boost::json::object& config_values) const {
    boost::json::object out = config_values;
    for (auto const& f : config)
      if (f.secret && out.contains(f.key)) out[f.key] = "********";
    return out;
  }

 private:
  static std::string required_string(const boost::json::object& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    if (!v) throw ManifestError(std::string(key), "is missing");
    if (!v->is_string()) throw ManifestError(std::string(key), "must be a string");
    return std::string(v->get_string());
  }
  static std::string optional_string(const boost::json::object& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    if (!v || v->is_null()) return {};
    if (!v->is_string()) throw ManifestError(std::string(key), "must be a string");
    return std::string(v->get_string());
  }
  static bool optional_bool(const boost::json::object& o, std::string_view key, const std::string& path) {
    auto const* v = o.if_contains(key);
    if (!v || v->is_null()) return false;
    if (!v->is_bool()) throw ManifestError(path + "." + std::string(key), "must be true or false");
    return v->get_bool();
  }

  static ConfigField parse_field(const boost::json::object& e, const std::string& path) {
    ConfigField f;
    try {
      f.key = required_string(e, "key");
    } catch (const ManifestError& err) {
      throw ManifestError(path + ".key", "is missing or not a string");
    }
    if (f.key.empty()) throw ManifestError(path + ".key", "must not be empty");
    f.name = optional_string(e, "name");
    f.hint = optional_string(e, "hint");
    std::string type = "string";
    if (auto const* t = e.if_contains("type")) {
      if (!t->is_string()) throw ManifestError(path + ".type", "must be a string");
      type = std::string(t->get_string());
    }
    if (type == "string") f.type = ConfigFieldType::string;
    else if (type == "json") f.type = ConfigFieldType::json;
    else if (type == "choice") f.type = ConfigFieldType::choice;
    else if (type == "attachment") f.type = ConfigFieldType::attachment;
    else throw ManifestError(path + ".type", "'" + type + "' is not one of string, json, choice, attachment");
    f.required = optional_bool(e, "required", path);
    f.secret = optional_bool(e, "secret", path);
    if (auto const* c = e.if_contains("choices")) {
      if (!c->is_array()) throw ManifestError(path + ".choices", "must be an array of strings");
      for (auto const& choice : c->get_array()) {
        if (!choice.is_string()) throw ManifestError(path + ".choices", "must be an array of strings");
        f.choices.emplace_back(choice.get_string());
      }
    }
    if (f.type == ConfigFieldType::choice && f.choices.empty())
      throw ManifestError(path + ".choices", "a choice field needs a non-empty choices array");
    if (auto const* d = e.if_contains("default"); d && !d->is_null()) {
      f.default_value = *d;
      try {
        check_value(f, *d);
      } catch (const ConfigError& err) {
        throw ManifestError(path + ".default", err.what());
      }
    }
    return f;
  }

  static boost::json::value check_value(const ConfigField& f, const boost::json::value& v) {
    switch (f.type) {
      case ConfigFieldType::string:
        if (!v.is_string()) throw ConfigError(f.key, std::string("expected a string, got ") + kind(v));
        return v;
      case ConfigFieldType::choice: {
        if (!v.is_string()) throw ConfigError(f.key, std::string("expected one of the choices, got ") + kind(v));
        for (auto const& c : f.choices)
          if (c == v.get_string()) return v;
        std::string list;
        for (auto const& c : f.choices) list += (list.empty() ? "" : ", ") + c;
        throw ConfigError(f.key, "'" + std::string(v.get_string()) + "' is not one of: " + list);
      }
      case ConfigFieldType::json: {
        if (v.is_object() || v.is_array()) return v;
        if (!v.is_string()) throw ConfigError(f.key, std::string("expected JSON text, got ") + kind(v));
        std::error_code ec;
        boost::json::value parsed = boost::json::parse(v.get_string(), ec);
        if (ec) throw ConfigError(f.key, "is not valid JSON: " + ec.message());
        return parsed;
      }
      case ConfigFieldType::attachment: {
        // Inline ({"file_name", "content_type", "contents"}), or, for a file
        // uploaded to the server, what it knows of it ({"file_name", "content_type", "size"}).
        auto const* o = v.if_object();
        auto is_text = [&](const char* k) {
          auto const* x = o ? o->if_contains(k) : nullptr;
          return x && x->is_string();
        };
        auto bad = [&](const char* k) {
          auto const* x = o ? o->if_contains(k) : nullptr;
          return x && !x->is_string();
        };
        if (!o || (!is_text("contents") && !is_text("file_name")) || bad("contents") || bad("file_name") ||
            bad("content_type"))
          throw ConfigError(f.key, "expected an attachment {\"file_name\", \"content_type\", \"contents\"} "
                                   "(or a file uploaded through the server's admin API)");
        return v;
      }
    }
    return v;
  }

  static const char* kind(const boost::json::value& v) noexcept {
    switch (v.kind()) {
      case boost::json::kind::null: return "null";
      case boost::json::kind::bool_: return "a boolean";
      case boost::json::kind::int64:
      case boost::json::kind::uint64:
      case boost::json::kind::double_: return "a number";
      case boost::json::kind::string: return "a string";
      case boost::json::kind::array: return "an array";
      case boost::json::kind::object: return "an object";
    }
    return "a value";
  }
};

}  // namespace posthog
