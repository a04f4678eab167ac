// HookCalls: which plugin hook each thread is inside right now, so that a call
// that never returns can be reported while it is still running (the
// CallWatchdog reads this; health/call_watchdog.hpp).
//
// Every thread that calls plugin hooks gets a slot on its first call (256 in
// all; a thread beyond that is simply not watched). A call writes a handful of
// relaxed atomics into its own slot and nothing else: no lock, no shared cache
// line with another worker. What the call is about (an event's uuid, an export
// batch, a job) is set once per event by the caller: a few word stores (up to
// 63 bytes are kept).
//
//   HookCalls::set_subject("event 0190...");           // the chain, per event
//   {
//     HookCall call(team_id, plugin_name, "process_event");
//     status = vtable.process_event(...);
//   }                                                   // idle again
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace posthog::server {

// A plugin name that lives as long as the process: slots point at it, and a
// watchdog may read it after the copy that made the call is gone.
const std::string& interned_plugin_name(std::string_view name);

struct HookCallSnapshot {
  std::size_t slot = 0;
  std::uint64_t call = 0;  // tells two calls in one slot apart
  std::int64_t started_ns = 0;
  std::int64_t team_id = 0;
  const std::string* plugin = nullptr;
  const char* hook = "";
  std::string subject;
};

class HookCalls {
 public:
  static constexpr std::size_t max_slots = 256;

  // What this thread's calls are about from now on (kept until changed).
  static void set_subject(std::string_view subject) noexcept;
  // Calls in progress, on every thread.
  static void for_each_busy(const std::function<void(const HookCallSnapshot&)>& visit);
  static std::int64_t steady_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  // The same clock at the kernel tick's resolution (a few ms), for a third of
  // the cost: enough to tell a call of 100 ms or 30 s, which is all health and
  // the watchdog ask. Latency histograms use steady_ns().
  static std::int64_t coarse_ns() noexcept;
};

// Marks this thread as inside `hook` of (team, plugin) for its lifetime.
class HookCall {
 public:
  HookCall(std::int64_t team_id, const std::string* plugin, const char* hook, std::int64_t started_ns) noexcept;
  ~HookCall();
  HookCall(const HookCall&) = delete;
  HookCall& operator=(const HookCall&) = delete;

 private:
  struct Slot* slot_;
};

}  // namespace posthog::server
