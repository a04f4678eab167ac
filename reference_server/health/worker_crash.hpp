// WorkerCrash: a hook call that ended its worker process (serve.isolation:
// process): a signal (SIGSEGV, SIGABRT, ...), the supervisor's kill past the
// hard timeout, or the memory limit. The supervisor reads it from the dead
// worker's hook-call table (hook_calls.hpp) and hands every crash so far to
// each new worker, which
//
//   - skips the plugin for the crash's subject from then on, as if the call
//     had thrown (the event goes on as it was before the plugin, with the
//     plugin in $plugins_failed; a set-up is refused; a job or an export
//     batch fails that attempt), and records a `plugin_crash` error when it
//     meets the subject again;
//   - charges the plugin's health as the crash happened: its bucket emptied,
//     so it is paused, and the third pause within the policy's memory
//     disables it (replayed at the crash's own time, so pauses already over
//     stay over).
//
//   auto crash = WorkerCrash::from_call(snapshot, "SIGSEGV (segmentation fault)", now_ms);
//   apply_crashes(states, crashes);   // in the new worker, before any plugin is set up
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "hook_calls.hpp"

namespace posthog::server {

class TeamPluginStates;

struct WorkerCrash {
  std::int64_t team_id = 0;  // 0: setup_instance, the plugin as a whole
  std::string plugin;
  std::string hook;
  std::string subject;        // "event <uuid>", "setup", "job <id>", "export <id>"
  std::uint64_t position = 0;  // the event's record in the log, when known
  std::string cause;          // "SIGSEGV (segmentation fault)", "killed past the hard timeout of 30 s", ...
  std::int64_t at_ms = 0;     // wall clock
  int signal = 0;             // the signal that ended the worker; 0 when it exited
  // An admin enabled the plugin again since: still quarantined, no longer charged.
  bool forgiven = false;

  static WorkerCrash from_call(const HookCallSnapshot& call, std::string cause, std::int64_t at_ms, int signal);
  boost::json::object to_json() const;
  static WorkerCrash from_json(const boost::json::object& o);
};

// What a signal number is called, with what it usually means.
std::string describe_signal(int signal);

// In a new worker, before any plugin is set up: quarantines every crash's
// subject and charges health as described above. `fresh`: how many of the
// last crashes this worker is the first to hear of (their health transitions
// are reported; older ones were reported by an earlier worker).
void apply_crashes(TeamPluginStates& states, const std::vector<WorkerCrash>& crashes, std::size_t fresh);

}  // namespace posthog::server
