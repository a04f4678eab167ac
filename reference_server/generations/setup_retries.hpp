// SetupRetries: a team's plugin whose setup_team failed is set up again later,
// as PostHog's LazyPluginVM did (src/worker/vm/lazy.ts, the version with
// MAX_SETUP_RETRIES = 10): attempt n+1 comes 3 s x 2^(n-1) after attempt n
// failed (3 s, 6 s, 12 s, ... 768 s), and after the tenth failure that team's
// plugin is disabled, with the reason, until an admin enables it again
// (POST /api/teams/{id}/plugins/{name}/enable), which starts a new series.
//
// Meanwhile the team's events go through the rest of its chain, with the
// plugin listed in $plugins_deferred. A set-up that succeeds publishes the
// team's chain with the new copy in its place (ChainSet::with_copy).
//
// Which set-ups retry: those nobody is waiting on an answer for, at start-up
// and for a team whose copy was still missing when its plugin was swapped. A
// team changed through the admin API is set up while the request waits, and
// a failure is the request's 400; a swap whose new version fails a team that
// was running is refused whole (module_swap.hpp).
//
//   SetupRetries retries(live_chains, services);
//   services.setup_retries = &retries;       // ChainSet::build reports failures here
//   retries.start();                         // or retries.step() with an injected clock
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "common/epoch_ms.hpp"
#include "common/periodic_task.hpp"

namespace posthog::server {

class LiveChains;
struct HostServices;

struct SetupRetryPolicy {
  int max_attempts = 10;                   // lazy.ts: MAX_SETUP_RETRIES
  std::chrono::milliseconds base{3'000};   // INITIALIZATION_RETRY_BASE_MS, doubling
};

class SetupRetries {
 public:
  using Clock = std::function<std::int64_t()>;  // milliseconds

  SetupRetries(LiveChains& chains, HostServices& services, SetupRetryPolicy policy = {}, Clock now = epoch_ms_now);
  SetupRetries(const SetupRetries&) = delete;
  SetupRetries& operator=(const SetupRetries&) = delete;

  // An attempt to set up (team, plugin) failed with `error` (already in the
  // plugin's error log): the next one is scheduled, or the series gives up.
  // Called from inside a chain update (ChainSet::build, with_instance).
  void failed(std::int64_t team_id, const std::string& plugin, const std::string& error);
  // An admin enabled it again: a new series, its first attempt now. False when
  // the pair is not waiting for a set-up.
  bool retry_now(std::int64_t team_id, const std::string& plugin);

  // Runs every attempt that is due; returns how many ran.
  std::size_t step();
  void start(std::chrono::milliseconds interval = std::chrono::milliseconds(250));
  void stop();

  // The wait after the n-th failed attempt (n >= 1).
  std::int64_t delay_ms(int failed_attempts) const noexcept;
  const SetupRetryPolicy& policy() const noexcept { return policy_; }

 private:
  struct Pending {
    int failed = 0;  // attempts of this series that failed
    std::int64_t next_at_ms = 0;
  };
  using Key = std::pair<std::int64_t, std::string>;
  void attempt(const Key& key);

  LiveChains& chains_;
  HostServices& services_;
  SetupRetryPolicy policy_;
  Clock now_;
  std::mutex mutex_;
  std::map<Key, Pending> pending_;  // series still retrying
  PeriodicTask task_;  // last: stopped first
};

}  // namespace posthog::server
