// CallWatchdog: reports a hook call that has run past the hard timeout while
// it is still running, naming the plugin, the team, the hook and what the call
// was about (the event's uuid, the export batch, the job), and empties that
// (team, plugin)'s health bucket, so the plugin is paused and other events
// stop going into it.
//
// What it cannot do: stop the call. A native hook runs on the server's own
// thread, and there is no safe way to take a thread out of arbitrary code (it
// may hold a lock, be halfway through an allocation, or own the event). The
// thread stays inside the plugin until the plugin returns. In serve mode that
// worker's share of events waits behind it, the in-flight bound fills, and
// capture answers 503 for those people, rather than losing or reordering
// their events; other workers, jobs and exports go on. A restart is the cure;
// running plugins in processes of their own (a later issue) removes the limit.
//
//   CallWatchdog watchdog(states, log);
//   watchdog.start();                  // looks every 250 ms
//   watchdog.scan(HookCalls::steady_ns());   // or by hand (tests)
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

#include "common/periodic_task.hpp"
#include "hook_calls.hpp"
#include "team_plugin_states.hpp"

namespace posthog::server {

class PluginLog;

class CallWatchdog {
 public:
  CallWatchdog(TeamPluginStates& states, PluginLog& log) : states_(states), log_(log) {}
  CallWatchdog(const CallWatchdog&) = delete;
  CallWatchdog& operator=(const CallWatchdog&) = delete;

  // Reports every call started more than the policy's hard_timeout before
  // `now_ns` (steady clock) that was not reported yet. Returns how many.
  std::size_t scan(std::int64_t now_ns);
  void start(std::chrono::milliseconds interval = std::chrono::milliseconds(250));
  void stop();
  std::uint64_t reported() const noexcept { return reported_.load(std::memory_order_relaxed); }

 private:
  TeamPluginStates& states_;
  PluginLog& log_;
  std::array<std::uint64_t, HookCalls::max_slots> last_reported_{};  // the call each slot last reported
  std::atomic<std::uint64_t> reported_{0};
  PeriodicTask task_;  // last: stopped first
};

}  // namespace posthog::server
