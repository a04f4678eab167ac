// posthog/config.hpp: a team's plugin config, typed and already validated.
//
// The server checks each team's config against the manifest's schema before the
// plugin sees it (see manifest.hpp), so a plugin reads values without
// re-validating: required fields are present, choices are among the choices,
// `json` fields arrive parsed.
//
//   explicit MyPlugin(posthog::TeamContext& team)
//       : bar_(team.config.string("bar")),                   // required or defaulted
//         rates_(team.config.json("rates").as_object()) {}    // a `json` field
//
// Reading a key that is absent throws posthog::ConfigError naming it.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "errors.hpp"

namespace posthog {

class Config {
 public:
  Config() = default;
  explicit Config(boost::json::object values) : values_(std::move(values)) {}

  bool has(std::string_view key) const noexcept { return values_.contains(key); }

  // A string or choice field.
  std::string_view string(std::string_view key) const {
    auto const& v = at(key);
    if (!v.is_string()) throw ConfigError(std::string(key), "is not a string");
    return v.get_string();
  }
  std::optional<std::string_view> find_string(std::string_view key) const noexcept {
    auto const* v = values_.if_contains(key);
    if (v && v->is_string()) return std::string_view(v->get_string());
    return std::nullopt;
  }
  std::string string_or(std::string_view key, std::string_view fallback) const {
    return std::string(find_string(key).value_or(fallback));
  }

  // A json field, parsed; or an attachment ({file_name, content_type, contents}).
  const boost::json::value& json(std::string_view key) const { return at(key); }
  const boost::json::value* find(std::string_view key) const noexcept { return values_.if_contains(key); }

  const boost::json::object& values() const noexcept { return values_; }

 private:
  const boost::json::value& at(std::string_view key) const {
    auto const* v = values_.if_contains(key);
    if (!v) throw ConfigError(std::string(key), "is not set for this team");
    return *v;
  }
  boost::json::object values_;
};

}  // namespace posthog
