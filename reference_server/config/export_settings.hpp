// ExportSettings: what a team's config says about its exports, PostHog's three
// options (src/worker/vm/upgrades/export-events.ts), read once when the team's
// copy is set up:
//
//   exportEventsToIgnore       "$pageleave, $autocapture": event names never
//                              handed to export_events (split on commas, trimmed)
//   exportEventsBufferBytes    pending bytes that start a batch: 1 to 100 MiB
//   exportEventsBufferSeconds  age of the oldest pending event that starts one: 1 to 600
//
// Values are strings (PostHog's config UI). A number out of range is clamped to
// PostHog's limits and said so in the plugin's log; text that is not a whole
// number is refused, naming the field (PostHog fell back to the default). Unset
// bounds are the server's (serve.exports, PostHog's 1 MiB and 10 s).
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace posthog::server {

struct ExportSettings {
  std::vector<std::string> ignored;  // event names
  std::optional<std::uint64_t> buffer_bytes;
  std::optional<std::chrono::milliseconds> buffer_age;

  bool ignores(std::string_view event) const noexcept {
    for (auto const& e : ignored)
      if (e == event) return true;
    return false;
  }

  // Throws posthog::ConfigError naming the field. `notes`: what was clamped.
  static ExportSettings from_config(const boost::json::object& config, std::vector<std::string>& notes);
};

}  // namespace posthog::server
