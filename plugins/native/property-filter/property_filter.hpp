// property-filter: PostHog's Property Filter plugin, native.
//
// Removes each configured property from event.properties. A dotted path goes
// into nested objects (`address.street`); a path that does not exist is ignored.
// Paths under `$set` and `$set_once` are removed from the properties' person
// updates and also from the event's top-level `$set` / `$set_once`, since PostHog
// merges both into the person (PostHog's plugin only looked in the properties).
// `$ip` also removes the event's `ip`, as PostHog's plugin did.
//
//   {"properties": "email,$set.email,$ip"}
#pragma once

#include <posthog/plugin.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace posthog::plugins {

class PropertyFilter {
 public:
  // Throws ConfigError("properties") when the list names no property or has an
  // empty path segment ("a..b").
  explicit PropertyFilter(posthog::TeamContext& team);

  bool process_event(posthog::Event& event, posthog::Meta& meta) noexcept;

  const std::vector<std::string>& paths() const noexcept { return paths_; }

 private:
  std::vector<std::string> paths_;
  bool removes_ip_ = false;
};

}  // namespace posthog::plugins
