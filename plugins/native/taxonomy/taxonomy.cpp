#include "taxonomy.hpp"

#include <string>

namespace posthog::plugins {
namespace {

// PostHog's own events: never renamed.
bool reserved(std::string_view name) noexcept {
  return name.front() == '$' || name == "survey shown" || name == "survey sent" ||
         name == "survey dismissed";
}

}  // namespace

Taxonomy::Taxonomy(posthog::TeamContext& team) {
  auto const name = team.config.string("defaultNamingConvention");
  auto const style = taxonomy::style_named(name);
  if (!style) throw ConfigError("defaultNamingConvention", "unknown naming convention '" + std::string(name) + "'");
  style_ = *style;
}

bool Taxonomy::process_event(posthog::Event& event, posthog::Meta& meta) noexcept {
  auto const name = event.name();
  if (name.empty()) {
    meta.logger.warn("taxonomy: the event has no name (or not a string); left unchanged");
    return true;
  }
  if (reserved(name)) return true;
  auto renamed = taxonomy::restyle(name, style_);
  if (renamed != name) event.set_name(renamed);
  return true;
}

}  // namespace posthog::plugins
