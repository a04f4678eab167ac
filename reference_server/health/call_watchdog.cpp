#include "call_watchdog.hpp"

#include <posthog/abi.h>

#include <cstdio>

#include "common/plugin_log.hpp"

namespace posthog::server {

std::size_t CallWatchdog::scan(std::int64_t now_ns) {
  auto const& policy = states_.policy();
  if (!policy.enabled) return 0;
  auto const limit_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(policy.hard_timeout).count();
  std::size_t found = 0;
  HookCalls::for_each_busy([&](const HookCallSnapshot& call) {
    if (now_ns - call.started_ns < limit_ns || last_reported_[call.slot] == call.call) return;
    last_reported_[call.slot] = call.call;
    ++found;
    reported_.fetch_add(1, std::memory_order_relaxed);
    char took[32], limit[32];
    std::snprintf(took, sizeof took, "%.1f", static_cast<double>(now_ns - call.started_ns) / 1e9);
    std::snprintf(limit, sizeof limit, "%g", static_cast<double>(policy.hard_timeout.count()) / 1e3);
    std::string const subject = call.subject.empty() ? std::string("no event") : call.subject;
    std::string const message = std::string(call.hook) + " has been running for " + took +
                                " s, past the hard timeout of " + limit + " s (" + subject +
                                "); a native call cannot be stopped: its thread stays inside the plugin until it "
                                "returns, and the plugin is paused for every other event";
    // The event's uuid is known; its body is not read while the plugin may be writing it.
    std::string uuid;
    if (subject.rfind("event ", 0) == 0) uuid = subject.substr(6);
    log_.error({call.team_id, call.plugin, call.hook, "TimeoutError", message, uuid, {}, {}});
    auto& state = states_.of(call.team_id, call.plugin);
    states_.report(state, state.health().charge(policy, policy.bucket_tokens + 1, states_.now(),
                                                std::string(call.hook) + " ran past the hard timeout"));
  });
  return found;
}

void CallWatchdog::start(std::chrono::milliseconds interval) {
  task_.start(
      [this, interval] {
        scan(HookCalls::steady_ns());
        return interval;
      },
      [this](const std::exception& e) {
        log_.log({0, "watchdog", POSTHOG_LOG_ERROR, std::string("a watchdog pass failed: ") + e.what(), {}});
      },
      interval);
}

void CallWatchdog::stop() { task_.stop(); }

}  // namespace posthog::server
