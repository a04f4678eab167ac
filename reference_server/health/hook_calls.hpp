// HookCalls: which plugin hook each thread is inside right now, so that a call
// that never returns can be reported while it is still running (the
// CallWatchdog reads this; health/call_watchdog.hpp), and so that when a
// worker process dies inside a hook, its supervisor can say which plugin, which
// hook and which event did it (modes/worker_supervisor.hpp).
//
// Every thread that calls plugin hooks gets a slot on its first call (256 in
// all; a thread beyond that is simply not watched). A call writes a handful of
// relaxed atomics into its own slot and nothing else: no lock, no shared cache
// line with another worker. What the call is about (an event's uuid and log
// position, an export batch, a job) is set once per event by the caller.
//
// The table holds no pointer: names are kept as bytes, so that it can live in
// memory shared with another process (place_in(), before any hook is called)
// and be read there after this process died. A crashing thread writes its slot
// and signal into the table's header on its way out (install_crash_marker()).
//
//   HookCalls::set_subject("event 0190...", position);   // the chain, per event
//   {
//     HookCall call(team_id, plugin_name, "process_event");
//     status = vtable.process_event(...);
//   }                                                      // idle again
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace posthog::server {

// A plugin name that lives as long as the process (slots copy it; callers keep
// the pointer to compare cheaply).
const std::string& interned_plugin_name(std::string_view name);

struct HookCallSnapshot {
  std::size_t slot = 0;
  std::uint64_t call = 0;  // tells two calls in one slot apart
  std::int64_t started_ns = 0;  // CLOCK_MONOTONIC: the same in every process of the machine
  std::int64_t team_id = 0;
  std::string plugin;
  std::string hook;
  std::string subject;
  std::uint64_t position = 0;  // the event's record in the event log, when known
};

class HookCalls {
 public:
  static constexpr std::size_t max_slots = 256;

  // The table's size in bytes, for whoever maps memory for it.
  static std::size_t table_bytes() noexcept;
  // Puts the table at `memory` (zeroed, table_bytes() long, page-aligned)
  // instead of this process's own. Call before any thread calls a hook.
  static void place_in(void* memory) noexcept;
  // Reads a table another process wrote (at `memory`): its busy calls, and
  // the slot and signal its crashing thread marked, if one did.
  struct Crash {
    std::size_t slot;
    int signal;
  };
  static void for_each_busy_in(const void* memory, const std::function<void(const HookCallSnapshot&)>& visit);
  static std::optional<Crash> crash_in(const void* memory) noexcept;
  static std::optional<HookCallSnapshot> slot_in(const void* memory, std::size_t slot);
  // Signals that end this process while a thread is in a hook (SIGSEGV,
  // SIGBUS, SIGFPE, SIGILL, SIGABRT) first mark that thread's slot in the
  // header, then do what they would have done.
  static void install_crash_marker() noexcept;

  // Output sections: where a worker hands a batch out (the sink write, the
  // export queue, the log's commit). A worker process that is about to die
  // (its crash marker, or a supervisor that must kill it) first closes the
  // sections: new ones never open (their thread waits to be killed), and open
  // ones are waited for, at most `patience`, so that a batch is either wholly
  // out and committed, or not out at all, and runs again exactly once.
  class OutputSection {
   public:
    OutputSection() noexcept;
    ~OutputSection();
    OutputSection(const OutputSection&) = delete;
    OutputSection& operator=(const OutputSection&) = delete;
  };
  // From the supervisor, on a table another process uses: true once no
  // section is open (and none can open), false when `patience` ran out.
  static bool close_outputs_in(void* memory, std::chrono::milliseconds patience) noexcept;

  // True in a supervised worker process (the table was placed in shared memory).
  static bool supervised() noexcept;
  // Ends this worker process from inside a hook call, marked like a crash with
  // `code` instead of a signal: a plugin that ran the process out of memory.
  static constexpr int out_of_memory = -1;
  [[noreturn]] static void end_worker(int code) noexcept;

  // What this thread's calls are about from now on (kept until changed).
  static void set_subject(std::string_view subject, std::uint64_t position = 0) noexcept;
  // The subject this thread set last.
  static const std::string& subject() noexcept;
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
// `plugin` is an interned name, `hook` a string literal.
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
