#include "export_settings.hpp"

#include <posthog/errors.hpp>

#include <algorithm>
#include <charconv>

namespace posthog::server {
namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A whole number within [low, high] (clamped, with a note), or nullopt when unset.
std::optional<std::uint64_t> bounded(const boost::json::object& config, const char* key, std::uint64_t low,
                                     std::uint64_t high, std::vector<std::string>& notes) {
  auto const* v = config.if_contains(key);
  if (!v) return std::nullopt;
  std::int64_t n = 0;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_string()) {
    auto const text = trimmed(v->get_string());
    auto const r = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size())
      throw posthog::ConfigError(key, "'" + std::string(v->get_string()) + "' is not a whole number");
  } else {
    throw posthog::ConfigError(key, "must be a whole number (as text)");
  }
  auto const clamped = static_cast<std::uint64_t>(std::clamp<std::int64_t>(n, static_cast<std::int64_t>(low),
                                                                           static_cast<std::int64_t>(high)));
  if (static_cast<std::int64_t>(clamped) != n)
    notes.push_back(std::string(key) + " " + std::to_string(n) + " is outside " + std::to_string(low) + " to " +
                    std::to_string(high) + ": using " + std::to_string(clamped) + " (PostHog's limits)");
  return clamped;
}

}  // namespace

ExportSettings ExportSettings::from_config(const boost::json::object& config, std::vector<std::string>& notes) {
  ExportSettings s;
  if (auto const* v = config.if_contains("exportEventsToIgnore"); v && v->is_string()) {
    std::string_view rest = v->get_string();
    while (true) {
      auto const comma = rest.find(',');
      auto const name = trimmed(rest.substr(0, comma));
      if (!name.empty()) s.ignored.emplace_back(name);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  s.buffer_bytes = bounded(config, "exportEventsBufferBytes", 1, 100 * 1024 * 1024, notes);
  if (auto const seconds = bounded(config, "exportEventsBufferSeconds", 1, 600, notes))
    s.buffer_age = std::chrono::seconds(*seconds);
  return s;
}

}  // namespace posthog::server
