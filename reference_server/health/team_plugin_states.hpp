// TeamPluginState: what the server knows about one (team, plugin), PostHog's
// "plugin config", beyond any one copy of it: its health (plugin_health.hpp),
// how its set-up is going (setup_retries.hpp) and the metrics it declared.
// Copies of the plugin come and go (a config change, a hot swap); this stays,
// so a plugin paused for misbehaving is still paused in its next version.
//
// TeamPluginStates keeps them, made on first need: a (team, plugin) that never
// failed, never ran slow and declares no metrics costs nothing here, which is
// what keeps 10,000 healthy teams small. A copy looks its state up when it is
// set up and again whenever epoch() moved (a state was made since), so a
// state made by one copy is seen by every other copy of the same pair.
//
//   TeamPluginStates states(policy);
//   states.observe([](const TeamPluginState& s, const HealthTransition& t) { ... });
//   auto& s = states.of(team_id, "geoip");
//   states.report(s, s.health().charge(states.policy(), 100, states.now(), "process_event threw"));
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/epoch_ms.hpp"
#include "metrics/declared_metrics.hpp"
#include "config/health_policy.hpp"
#include "plugin_health.hpp"

namespace posthog::server {

class PluginLog;
class TeamPluginState;

// A health transition as a line of the plugin's own log, where its errors are:
// warn when it gets worse, error when the plugin stops running, info when it
// recovers. What serve and process mode observe transitions with.
void log_transition(PluginLog& log, const TeamPluginState& state, const HealthTransition& t);

struct SetupStatus {
  enum class Phase : std::uint8_t { ok, retrying, failed };
  Phase phase = Phase::ok;
  int attempts = 0;             // failed attempts of the current series
  std::int64_t next_at_ms = 0;  // retrying: when the next attempt is due
  std::string last_error;
};

std::string_view to_string(SetupStatus::Phase p) noexcept;

// A call that crashed its worker process (or hung past the hard timeout, or
// ran it out of memory): what it was about ("event <uuid>", "job <id>",
// "export <id>"), which hook, and what happened. The next worker skips the
// plugin for that subject, as if the call had thrown.
struct QuarantinedCall {
  std::string subject;
  std::string hook;
  std::string cause;  // "SIGSEGV (segmentation fault)", "killed past the hard timeout of 30 s", ...
};

class TeamPluginState {
 public:
  // Transitions kept per pair: enough to read what happened over a bad day
  // (three pauses and their recoveries are six), bounded so that a plugin
  // flapping for weeks costs no more than this.
  static constexpr std::size_t kept_transitions = 32;

  TeamPluginState(std::int64_t team_id, std::string plugin) : team_id_(team_id), plugin_(std::move(plugin)) {}
  TeamPluginState(const TeamPluginState&) = delete;
  TeamPluginState& operator=(const TeamPluginState&) = delete;

  std::int64_t team_id() const noexcept { return team_id_; }
  const std::string& plugin() const noexcept { return plugin_; }
  PluginHealth& health() noexcept { return health_; }
  const PluginHealth& health() const noexcept { return health_; }
  DeclaredMetrics& metrics() noexcept { return metrics_; }
  const DeclaredMetrics& metrics() const noexcept { return metrics_; }

  SetupStatus setup() const {
    std::lock_guard lock(mutex_);
    return setup_;
  }
  void set_setup(SetupStatus s) {
    std::lock_guard lock(mutex_);
    setup_ = std::move(s);
  }

  // Crash quarantine: cheap to ask when empty (one relaxed load), which is
  // always but after a crash; after one, a lock and a hash lookup by subject
  // per call (no allocation). The newest `max_quarantined` are kept.
  static constexpr std::size_t max_quarantined = 1024;
  bool has_quarantine() const noexcept { return has_quarantine_.load(std::memory_order_acquire); }
  void quarantine(QuarantinedCall call);
  std::optional<QuarantinedCall> quarantined(std::string_view subject, std::string_view hook) const;

  // The health transitions of this pair, newest first, at most kept_transitions.
  std::vector<HealthTransition> transitions() const;
  void remember(HealthTransition t);

 private:
  std::int64_t team_id_;
  std::string plugin_;
  PluginHealth health_;
  DeclaredMetrics metrics_;
  mutable std::mutex mutex_;  // the set-up status, the quarantine and the transitions
  SetupStatus setup_;
  std::atomic<bool> has_quarantine_{false};
  // Under mutex_: by subject (the calls of each, usually one), and the
  // (subject, hook) pairs oldest first, for keeping the newest.
  struct SubjectHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::vector<QuarantinedCall>, SubjectHash, std::equal_to<>> quarantine_;
  std::deque<std::pair<std::string, std::string>> quarantine_order_;
  std::deque<HealthTransition> transitions_;
};

class TeamPluginStates {
 public:
  using Clock = std::function<std::int64_t()>;  // milliseconds
  using TransitionObserver = std::function<void(const TeamPluginState&, const HealthTransition&)>;

  explicit TeamPluginStates(HealthPolicy policy = {}, Clock now = epoch_ms_now)
      : policy_(policy), now_(std::move(now)) {}

  const HealthPolicy& policy() const noexcept { return policy_; }
  std::int64_t now() const { return now_(); }

  // Found or made; the address never changes.
  TeamPluginState& of(std::int64_t team_id, std::string_view plugin);
  TeamPluginState* find(std::int64_t team_id, std::string_view plugin) const;
  // How many states were made so far: a copy that has none looks again when it moved.
  std::uint64_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }
  std::vector<TeamPluginState*> all() const;

  // Set before any hook runs. Called outside every lock of the state.
  void observe(TransitionObserver observer) { observer_ = std::move(observer); }
  // Counts a transition, keeps it in the pair's history and tells the observer.
  void report(TeamPluginState& state, const std::optional<HealthTransition>& transition);
  std::uint64_t transitions_to(HealthState s) const noexcept {
    return transitions_[static_cast<std::size_t>(s)].load(std::memory_order_relaxed);
  }

  // Prometheus text: states by plugin, transitions, the pairs not healthy,
  // declared metrics per (team, plugin).
  void render_metrics(std::string& out) const;

 private:
  HealthPolicy policy_;
  Clock now_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::int64_t, std::string>, std::unique_ptr<TeamPluginState>> states_;
  std::atomic<std::uint64_t> epoch_{0};
  std::array<std::atomic<std::uint64_t>, 4> transitions_{};
  TransitionObserver observer_;
};

}  // namespace posthog::server
