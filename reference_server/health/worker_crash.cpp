#include "worker_crash.hpp"

#include <signal.h>
#include <string.h>

#include "team_plugin_states.hpp"

namespace posthog::server {

WorkerCrash WorkerCrash::from_call(const HookCallSnapshot& call, std::string cause, std::int64_t at_ms, int signal) {
  WorkerCrash c;
  c.team_id = call.team_id;
  c.plugin = call.plugin;
  c.hook = call.hook;
  c.subject = call.subject;
  c.position = call.position;
  c.cause = std::move(cause);
  c.at_ms = at_ms;
  c.signal = signal;
  return c;
}

boost::json::object WorkerCrash::to_json() const {
  return {{"team_id", team_id}, {"plugin", plugin}, {"hook", hook},   {"subject", subject},
          {"position", position}, {"cause", cause},   {"at_ms", at_ms}, {"signal", signal},
          {"forgiven", forgiven}};
}

WorkerCrash WorkerCrash::from_json(const boost::json::object& o) {
  WorkerCrash c;
  auto text = [&](const char* key) {
    auto const* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  auto number = [&](const char* key) -> std::int64_t {
    auto const* v = o.if_contains(key);
    return v && v->is_int64() ? v->get_int64() : v && v->is_uint64() ? static_cast<std::int64_t>(v->get_uint64()) : 0;
  };
  c.team_id = number("team_id");
  c.plugin = text("plugin");
  c.hook = text("hook");
  c.subject = text("subject");
  c.position = static_cast<std::uint64_t>(number("position"));
  c.cause = text("cause");
  c.at_ms = number("at_ms");
  c.signal = static_cast<int>(number("signal"));
  if (auto const* f = o.if_contains("forgiven"); f && f->is_bool()) c.forgiven = f->get_bool();
  return c;
}

std::string describe_signal(int signal) {
  switch (signal) {
    case SIGSEGV: return "SIGSEGV (segmentation fault)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGFPE: return "SIGFPE (arithmetic error)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGABRT: return "SIGABRT (aborted)";
    case SIGKILL: return "SIGKILL (killed)";
    default: break;
  }
  char const* name = ::sigabbrev_np(signal);
  return name ? std::string("SIG") + name : "signal " + std::to_string(signal);
}

void apply_crashes(TeamPluginStates& states, const std::vector<WorkerCrash>& crashes, std::size_t fresh) {
  auto const& policy = states.policy();
  for (std::size_t i = 0; i < crashes.size(); ++i) {
    auto const& c = crashes[i];
    auto& state = states.of(c.team_id, c.plugin);
    state.quarantine({c.subject, c.hook, c.cause});
    if (!policy.enabled || c.forgiven) continue;
    // An empty bucket and more: paused, at the crash's own time.
    auto transition = state.health().charge(policy, policy.bucket_tokens + 1, c.at_ms,
                                            c.hook + " crashed its worker process: " + c.cause);
    if (i + fresh >= crashes.size()) states.report(state, transition);
  }
  // A pause whose time is up ends when the plugin is next asked for (TeamPlugin::runnable).
}

}  // namespace posthog::server
