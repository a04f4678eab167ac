#include "plugin_status.hpp"

#include "common/event_ids.hpp"

namespace posthog::server {

boost::json::value iso_time_or_null(std::int64_t ms) {
  if (ms <= 0) return nullptr;
  return boost::json::value(std::string(iso8601_text(ms).view()));  // not via nanoseconds: no overflow
}

boost::json::object plugin_status_json(const TeamPluginStates& states, const TeamPluginState* state) {
  auto const& policy = states.policy();
  auto const now = states.now();
  PluginHealth::Snapshot health;
  health.tokens = policy.bucket_tokens;
  SetupStatus setup;
  boost::json::object metrics;
  if (state) {
    health = state->health().snapshot(policy, now);
    setup = state->setup();
    for (auto const& m : state->metrics().values())
      metrics[m.name] = boost::json::object{{"kind", to_string(m.kind)}, {"value", m.value}};
  }
  boost::json::object h{{"state", to_string(health.state)},
                        {"tokens", health.tokens},
                        {"bucket", policy.bucket_tokens},
                        {"paused_until", iso_time_or_null(health.paused_until_ms)},
                        {"recent_pauses", health.recent_pauses},
                        {"checks", policy.enabled}};
  auto transition_json = [](const HealthTransition& t) {
    return boost::json::object{
        {"from", to_string(t.from)}, {"to", to_string(t.to)}, {"at", iso_time_or_null(t.at_ms)}, {"reason", t.reason}};
  };
  if (health.last) h["last_transition"] = transition_json(*health.last);
  boost::json::array history;
  if (state)
    for (auto const& t : state->transitions()) history.push_back(transition_json(t));
  h["history"] = std::move(history);
  return {{"health", std::move(h)},
          {"setup", boost::json::object{{"state", to_string(setup.phase)},
                                        {"failed_attempts", setup.attempts},
                                        {"next_attempt_at", setup.phase == SetupStatus::Phase::retrying
                                                                ? iso_time_or_null(setup.next_at_ms)
                                                                : boost::json::value(nullptr)},
                                        {"last_error", setup.last_error}}},
          {"metrics", std::move(metrics)}};
}

boost::json::object plugin_status_summary(const TeamPluginStates& states, const TeamPluginState* state) {
  if (!state) return {{"health", "healthy"}, {"setup", "ok"}};
  return {{"health", to_string(state->health().snapshot(states.policy(), states.now()).state)},
          {"setup", to_string(state->setup().phase)}};
}

}  // namespace posthog::server
