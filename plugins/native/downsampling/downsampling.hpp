// downsampling: PostHog's Downsampling plugin, native.
//
// Keeps `percentage` % of events. The default decides from the distinct_id
// exactly as PostHog did (the first 15 hex digits of its SHA-256, as a fraction
// of 0xfffffffffffffff, kept when at most percentage/100), so a person is kept
// or dropped as a whole, the same people as in PostHog, and raising the
// percentage only adds people. `Event UUID sampling` applies the same rule to
// the event's uuid; `Random sampling` is PostHog's coin toss.
//
//   {"percentage": "12.5", "samplingMethod": "Distinct ID aware sampling"}
#pragma once

#include <posthog/plugin.hpp>

#include <cstdint>
#include <string_view>

namespace posthog::plugins {

class Downsampling {
 public:
  enum class Method : std::uint8_t { distinct_id, uuid, random };

  // Throws ConfigError("percentage") unless it is a number from 0 to 100.
  explicit Downsampling(posthog::TeamContext& team);

  bool process_event(posthog::Event& event, posthog::Meta& meta) noexcept;

  // PostHog's decision value for a key, in [0, 1].
  static double decision_value(std::string_view key) noexcept;

 private:
  double fraction_;  // percentage / 100
  Method method_;
};

}  // namespace posthog::plugins
