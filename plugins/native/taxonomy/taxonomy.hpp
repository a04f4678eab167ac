// taxonomy: PostHog's Taxonomy plugin, native: custom event names rewritten
// into the team's naming convention (see event_name_style.hpp for how words are
// found). Events whose name starts with '$' (PostHog's own) and PostHog's
// survey events are never renamed.
//
//   {"defaultNamingConvention": "snake_case"}   "User Signed Up" -> "user_signed_up"
#pragma once

#include <posthog/plugin.hpp>

#include "event_name_style.hpp"

namespace posthog::plugins {

class Taxonomy {
 public:
  // Throws ConfigError("defaultNamingConvention") for a style it does not know.
  explicit Taxonomy(posthog::TeamContext& team);

  // noexcept: renaming can fail only for want of memory.
  bool process_event(posthog::Event& event, posthog::Meta& meta) noexcept;

 private:
  taxonomy::Style style_;
};

}  // namespace posthog::plugins
