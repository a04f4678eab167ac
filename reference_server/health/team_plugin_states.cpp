#include "team_plugin_states.hpp"

#include <posthog/abi.h>

#include "metrics/prometheus_text.hpp"
#include "common/plugin_log.hpp"

namespace posthog::server {

void log_transition(PluginLog& log, const TeamPluginState& state, const HealthTransition& t) {
  int const level = t.to == HealthState::healthy    ? POSTHOG_LOG_INFO
                    : t.to == HealthState::degraded ? POSTHOG_LOG_WARN
                                                    : POSTHOG_LOG_ERROR;
  log.log({state.team_id(), state.plugin(), level,
           "health: " + std::string(to_string(t.from)) + " -> " + std::string(to_string(t.to)) + ": " + t.reason, {}});
}

std::string_view to_string(SetupStatus::Phase p) noexcept {
  switch (p) {
    case SetupStatus::Phase::ok: return "ok";
    case SetupStatus::Phase::retrying: return "retrying";
    case SetupStatus::Phase::failed: return "failed";
  }
  return "ok";
}

void TeamPluginState::quarantine(QuarantinedCall call) {
  std::lock_guard lock(mutex_);
  auto& calls = quarantine_[call.subject];
  for (auto const& q : calls)
    if (q.hook == call.hook) return;  // known already (from this server and from Redis, say)
  if (quarantine_order_.size() >= max_quarantined) {
    auto const [subject, hook] = std::move(quarantine_order_.front());
    quarantine_order_.pop_front();
    auto const it = quarantine_.find(subject);
    std::erase_if(it->second, [&](const QuarantinedCall& q) { return q.hook == hook; });
    if (it->second.empty() && it->first != call.subject) quarantine_.erase(it);
  }
  quarantine_order_.emplace_back(call.subject, call.hook);
  quarantine_[call.subject].push_back(std::move(call));
  has_quarantine_.store(true, std::memory_order_release);
}

std::optional<QuarantinedCall> TeamPluginState::quarantined(std::string_view subject, std::string_view hook) const {
  std::lock_guard lock(mutex_);
  auto const it = quarantine_.find(subject);
  if (it == quarantine_.end()) return std::nullopt;
  for (auto const& q : it->second)
    if (q.hook == hook) return q;
  return std::nullopt;
}

std::vector<HealthTransition> TeamPluginState::transitions() const {
  std::lock_guard lock(mutex_);
  return {transitions_.begin(), transitions_.end()};
}

void TeamPluginState::remember(HealthTransition t) {
  std::lock_guard lock(mutex_);
  transitions_.push_front(std::move(t));
  if (transitions_.size() > kept_transitions) transitions_.pop_back();
}

TeamPluginState& TeamPluginStates::of(std::int64_t team_id, std::string_view plugin) {
  std::lock_guard lock(mutex_);
  auto& slot = states_[{team_id, std::string(plugin)}];
  if (!slot) {
    slot = std::make_unique<TeamPluginState>(team_id, std::string(plugin));
    epoch_.fetch_add(1, std::memory_order_release);
  }
  return *slot;
}

TeamPluginState* TeamPluginStates::find(std::int64_t team_id, std::string_view plugin) const {
  std::lock_guard lock(mutex_);
  auto it = states_.find({team_id, std::string(plugin)});
  return it == states_.end() ? nullptr : it->second.get();
}

std::vector<TeamPluginState*> TeamPluginStates::all() const {
  std::lock_guard lock(mutex_);
  std::vector<TeamPluginState*> out;
  out.reserve(states_.size());
  for (auto const& [key, state] : states_) out.push_back(state.get());
  return out;
}

void TeamPluginStates::report(TeamPluginState& state, const std::optional<HealthTransition>& transition) {
  if (!transition) return;
  transitions_[static_cast<std::size_t>(transition->to)].fetch_add(1, std::memory_order_relaxed);
  state.remember(*transition);
  if (observer_) observer_(state, *transition);
}

void TeamPluginStates::render_metrics(std::string& out) const {
  auto const states = all();
  auto const now = now_();
  auto labels = [](std::string& out, const TeamPluginState& s) {
    out += "{team=\"" + std::to_string(s.team_id()) + "\",plugin=\"";
    append_label(out, s.plugin());
    out += '"';
  };

  prometheus_header(out, "posthog_plugin_health_state", "gauge",
                    "Plugins of a team that are not healthy: 1 degraded, 2 paused, 3 disabled.");
  for (auto const* s : states) {
    auto const state = s->health().snapshot(policy_, now).state;
    if (state == HealthState::healthy) continue;
    out += "posthog_plugin_health_state";
    labels(out, *s);
    out += "} " + std::to_string(static_cast<int>(state)) + "\n";
  }
  prometheus_header(out, "posthog_plugin_health_transitions_total", "counter",
                    "Health state changes of (team, plugin) pairs, by the state entered.");
  for (auto to : {HealthState::healthy, HealthState::degraded, HealthState::paused, HealthState::disabled})
    out += "posthog_plugin_health_transitions_total{to=\"" + std::string(to_string(to)) + "\"} " +
           std::to_string(transitions_to(to)) + "\n";
  prometheus_header(out, "posthog_plugin_setup_pending", "gauge",
                    "Plugins of a team whose setup_team failed: 1 retrying, 2 failed for good (disabled).");
  for (auto const* s : states) {
    auto const phase = s->setup().phase;
    if (phase == SetupStatus::Phase::ok) continue;
    out += "posthog_plugin_setup_pending";
    labels(out, *s);
    out += phase == SetupStatus::Phase::retrying ? "} 1\n" : "} 2\n";
  }
  prometheus_header(out, "posthog_plugin_metric", "gauge",
                    "Metrics the plugins declared (sum, max, min), per team, since this process started.");
  for (auto const* s : states) {
    for (auto const& m : s->metrics().values()) {
      out += "posthog_plugin_metric";
      labels(out, *s);
      out += ",metric=\"";
      append_label(out, m.name);
      out += "\",kind=\"" + std::string(to_string(m.kind)) + "\"} ";
      append_number(out, m.value);
      out += '\n';
    }
  }
}

}  // namespace posthog::server
