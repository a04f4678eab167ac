// posthog/errors.hpp: the exceptions a plugin throws and the server understands.
//
// Throw posthog::RetryError from export_events (or a job) when the failure is
// transient: the server hands the same batch over again later, with backoff. Any
// other exception is logged with the event or batch that caused it and is not
// retried, as in PostHog's plugin server.
//
//   void export_events(std::span<const posthog::Event> batch, posthog::Meta& meta) {
//     if (response.status >= 500) throw posthog::RetryError("upstream answered " + std::to_string(response.status));
//   }
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace posthog {

// A transient failure: try the same work again later.
class RetryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A team's config (or a manifest's schema) is not acceptable. `field` names the
// config key at fault; it is empty when the problem is not tied to one field.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string field, const std::string& reason)
      : std::runtime_error(field.empty() ? reason : "config field '" + field + "': " + reason),
        field_(std::move(field)) {}
  const std::string& field() const noexcept { return field_; }

  // Only the message crosses the binary interface; the field is read back from
  // it ("config field 'x': reason"), so the server can name it too.
  static ConfigError from_message(std::string_view message) {
    constexpr std::string_view prefix = "config field '";
    if (message.substr(0, prefix.size()) == prefix) {
      auto const end = message.find("': ", prefix.size());
      if (end != std::string_view::npos)
        return ConfigError(std::string(message.substr(prefix.size(), end - prefix.size())),
                           std::string(message.substr(end + 3)));
    }
    return ConfigError("", std::string(message));
  }

 private:
  std::string field_;
};

// plugin.json is not a valid manifest. `field` is a path such as "config[2].type".
class ManifestError : public std::runtime_error {
 public:
  ManifestError(std::string field, const std::string& reason)
      : std::runtime_error("manifest field '" + field + "': " + reason), field_(std::move(field)) {}
  const std::string& field() const noexcept { return field_; }

 private:
  std::string field_;
};

}  // namespace posthog
