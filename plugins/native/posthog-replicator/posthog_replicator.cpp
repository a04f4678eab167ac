#include "posthog_replicator.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>

namespace posthog::plugins {

namespace {

int whole_number(std::string_view text, const char* field, int min, int max) {
  int n = 0;
  auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < min || n > max)
    throw posthog::ConfigError(field, "must be a whole number from " + std::to_string(min) + " to " +
                                          std::to_string(max) + ", not '" + std::string(text) + "'");
  return n;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

PosthogReplicator::PosthogReplicator(posthog::TeamContext& team)
    : api_key_(team.config.string("project_api_key")) {
  auto host = HttpEndpoint::parse(team.config.string("host"), "host", "https");
  target_.origin = host.origin;
  target_.path = (host.path == "/" ? std::string() : host.path) + "/batch/";
  replication_ = whole_number(team.config.string_or("replication", "1"), "replication", 1, 10);
  options_.timeout = std::chrono::seconds(whole_number(team.config.string_or("timeout_seconds", "10"), "timeout_seconds", 1, 120));
  std::string const ignore = team.config.string_or("events_to_ignore", "");
  std::string const& list = ignore;
  for (std::size_t start = 0; start <= list.size();) {
    auto comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    auto const name = trimmed(std::string_view(list).substr(start, comma - start));
    if (!name.empty()) ignored_.emplace(name);
    start = comma + 1;
  }
}

boost::json::object PosthogReplicator::sendable(const boost::json::object& event) const {
  boost::json::object out;
  for (auto const& [key, value] : event) {
    if (key == "team_id" || key == "person" || key == "now" || key == "offset" || key == "sent_at" ||
        key == "$token" || key == "project_id" || key == "api_key" || key == "ip" || key == "token")
      continue;
    out[key] = value;
  }
  if (auto const* ip = event.if_contains("ip"); ip && ip->is_string()) {
    auto& properties = out["properties"];
    if (!properties.is_object()) properties = boost::json::object{};
    if (!properties.as_object().contains("$ip")) properties.as_object()["$ip"] = *ip;
  }
  return out;
}

void PosthogReplicator::export_events(std::span<const posthog::Event> batch, posthog::Meta& meta) {
  boost::json::array events;
  for (auto const& event : batch) {
    if (ignored_.count(event.name())) continue;
    auto copy = sendable(event.raw());
    for (int i = 1; i < replication_; ++i) events.push_back(copy);
    events.push_back(std::move(copy));
  }
  if (events.empty()) return;
  auto const count = events.size();
  std::string const body =
      boost::json::serialize(boost::json::object{{"api_key", api_key_}, {"batch", std::move(events)}});
  post_json(target_, body, options_);
  meta.logger.debug("replicated " + std::to_string(count) + " events to " + target_.url());
}

}  // namespace posthog::plugins
