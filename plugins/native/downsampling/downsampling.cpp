#include "downsampling.hpp"

#include <charconv>
#include <cmath>
#include <random>
#include <string>

#include "sha256.hpp"

namespace posthog::plugins {
namespace {

// JavaScript's parseFloat: leading spaces, then the longest numeric prefix.
std::optional<double> parse_float_prefix(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto const r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc()) return std::nullopt;
  return v;
}

}  // namespace

Downsampling::Downsampling(posthog::TeamContext& team) {
  auto const text = team.config.string("percentage");
  auto const percentage = parse_float_prefix(text);
  if (!percentage || !std::isfinite(*percentage) || *percentage < 0 || *percentage > 100)
    throw ConfigError("percentage", "must be a number between 0 and 100, not '" + std::string(text) + "'");
  fraction_ = *percentage / 100;
  auto const method = team.config.string("samplingMethod");
  method_ = method == "Random sampling"       ? Method::random
            : method == "Event UUID sampling" ? Method::uuid
                                              : Method::distinct_id;
}

double Downsampling::decision_value(std::string_view key) noexcept {
  auto const digest = downsampling::sha256(key);
  // The first 15 hex digits are the first 60 bits of the digest.
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | digest[i];
  v >>= 4;
  // As PostHog: both numbers are JavaScript doubles.
  return static_cast<double>(v) / static_cast<double>(0xfffffffffffffffull);
}

bool Downsampling::process_event(posthog::Event& event, posthog::Meta& meta) noexcept {
  switch (method_) {
    case Method::random: {
      // PostHog: Math.round(Math.random() * 100) <= percentage.
      thread_local std::minstd_rand rng{std::random_device{}()};
      double const roll = std::round(std::uniform_real_distribution<double>(0, 100)(rng));
      return roll <= fraction_ * 100;
    }
    case Method::uuid: return decision_value(event.uuid()) <= fraction_;
    case Method::distinct_id: break;
  }
  // Without a person there is nothing to sample by: the event is kept, and said.
  // (PostHog's plugin threw on such an event.)
  auto const id = event.distinct_id();
  if (id.empty()) {
    meta.logger.warn("downsampling: the event has no distinct_id (or not a string); kept unsampled");
    return true;
  }
  return decision_value(id) <= fraction_;
}

}  // namespace posthog::plugins
