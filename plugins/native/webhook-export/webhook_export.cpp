#include "webhook_export.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>

namespace posthog::plugins {

namespace {

std::chrono::seconds timeout_of(std::string_view text) {
  int seconds = 0;
  auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc() || end != text.data() + text.size() || seconds < 1 || seconds > 120)
    throw posthog::ConfigError("timeout_seconds", "must be a whole number of seconds from 1 to 120, not '" +
                                                      std::string(text) + "'");
  return std::chrono::seconds(seconds);
}

}  // namespace

WebhookExport::WebhookExport(posthog::TeamContext& team)
    : target_(HttpEndpoint::parse(team.config.string("url"), "url")) {
  options_.timeout = timeout_of(team.config.string_or("timeout_seconds", "10"));
  auto const& headers = team.config.json("headers");
  if (!headers.is_object()) throw posthog::ConfigError("headers", "must be a JSON object of names to values");
  for (auto const& [name, value] : headers.as_object()) {
    if (!value.is_string())
      throw posthog::ConfigError("headers", "the value of '" + std::string(name) + "' must be a string");
    options_.headers.emplace_back(std::string(name), std::string(value.get_string()));
  }
}

void WebhookExport::export_events(std::span<const posthog::Event> batch, posthog::Meta& meta) {
  std::string body = "[";
  for (auto const& event : batch) {
    if (body.size() > 1) body += ',';
    body += boost::json::serialize(event.raw());
  }
  body += ']';
  post_json(target_, body, options_);
  meta.logger.debug("exported " + std::to_string(batch.size()) + " events to " + target_.url());
}

}  // namespace posthog::plugins
