#include "setup_retries.hpp"

#include <posthog/abi.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "common/load_error.hpp"
#include "chain_set.hpp"
#include "live_chains.hpp"
#include "common/plugin_log.hpp"
#include "health/team_plugin_states.hpp"

namespace posthog::server {

SetupRetries::SetupRetries(LiveChains& chains, HostServices& services, SetupRetryPolicy policy, Clock now)
    : chains_(chains), services_(services), policy_(policy), now_(std::move(now)) {}

std::int64_t SetupRetries::delay_ms(int failed_attempts) const noexcept {
  int const doublings = std::clamp(failed_attempts - 1, 0, 40);
  return policy_.base.count() << doublings;
}

void SetupRetries::failed(std::int64_t team_id, const std::string& plugin, const std::string& error) {
  auto const now = now_();
  SetupStatus status;
  {
    std::lock_guard lock(mutex_);
    auto& p = pending_[{team_id, plugin}];
    ++p.failed;
    status.attempts = p.failed;
    status.last_error = error;
    if (p.failed >= policy_.max_attempts) {
      pending_.erase({team_id, plugin});
      status.phase = SetupStatus::Phase::failed;
    } else {
      p.next_at_ms = now + delay_ms(p.failed);
      status.phase = SetupStatus::Phase::retrying;
      status.next_at_ms = p.next_at_ms;
    }
  }
  if (services_.states) services_.states->of(team_id, plugin).set_setup(status);
  if (!services_.log) return;
  std::string const of = " (attempt " + std::to_string(status.attempts) + " of " + std::to_string(policy_.max_attempts) + ")";
  if (status.phase == SetupStatus::Phase::failed)
    services_.log->log({team_id, plugin, POSTHOG_LOG_ERROR,
                        "setup_team failed" + of + "; the plugin is disabled for this team until an admin enables it "
                        "(POST /api/teams/" + std::to_string(team_id) + "/plugins/" + plugin + "/enable): " + error,
                        {}});
  else {
    char wait[32];
    std::snprintf(wait, sizeof wait, "%g", static_cast<double>(delay_ms(status.attempts)) / 1000.0);
    services_.log->log({team_id, plugin, POSTHOG_LOG_WARN,
                        "setup_team failed" + of + "; trying again in " + wait +
                            " s, meanwhile the team's events skip it",
                        {}});
  }
}

bool SetupRetries::retry_now(std::int64_t team_id, const std::string& plugin) {
  auto* state = services_.states ? services_.states->find(team_id, plugin) : nullptr;
  if (!state || state->setup().phase == SetupStatus::Phase::ok) return false;
  auto const now = now_();
  {
    std::lock_guard lock(mutex_);
    pending_[{team_id, plugin}] = Pending{0, now};
  }
  auto status = state->setup();
  status.phase = SetupStatus::Phase::retrying;
  status.attempts = 0;
  status.next_at_ms = now;
  state->set_setup(status);
  if (services_.log)
    services_.log->log({team_id, plugin, POSTHOG_LOG_INFO, "setup_team: enabled by an admin, trying again now", {}});
  task_.wake();
  return true;
}

void SetupRetries::attempt(const Key& key) {
  auto const& [team_id, plugin] = key;
  auto forget = [&] {
    std::lock_guard lock(mutex_);
    pending_.erase(key);
  };
  chains_.update([&](const ChainSet& now) -> std::shared_ptr<const ChainSet> {
    auto const* team = now.team(team_id);
    auto const* chain = now.chain(team_id);
    auto const* entry = [&]() -> const TeamPluginSpec* {
      if (team)
        for (auto const& p : team->plugins)
          if (p.enabled && p.name == plugin) return &p;
      return nullptr;
    }();
    auto instance = now.instance(plugin);
    bool const missing = chain && std::find(chain->awaiting_setup().begin(), chain->awaiting_setup().end(), plugin) !=
                                      chain->awaiting_setup().end();
    if (!entry || !instance || !missing) {  // changed since: set up by that change, or gone
      forget();
      if (services_.states)
        if (auto* state = services_.states->find(team_id, plugin)) state->set_setup({});
      return nullptr;
    }
    try {
      auto copy = TeamPlugin::create(std::move(instance), team_id, entry->config, services_);
      forget();
      if (services_.log)
        services_.log->log({team_id, plugin, POSTHOG_LOG_INFO, "setup_team succeeded; the plugin runs again", {}});
      return ChainSet::with_copy(now, std::move(copy), services_);
    } catch (const LoadError& e) {
      std::string const message = e.details().empty() ? e.what() : e.details().front();
      if (services_.log) services_.log->error({team_id, plugin, "setup_team", to_string(e.step()), message, {}, {}, {}});
      failed(team_id, plugin, message);
      return nullptr;
    }
  });
}

std::size_t SetupRetries::step() {
  auto const now = now_();
  std::vector<Key> due;
  {
    std::lock_guard lock(mutex_);
    for (auto const& [key, p] : pending_)
      if (p.next_at_ms <= now) due.push_back(key);
  }
  for (auto const& key : due) attempt(key);
  return due.size();
}

void SetupRetries::start(std::chrono::milliseconds interval) {
  task_.start(
      [this, interval] {
        step();
        return interval;
      },
      [this](const std::exception& e) {
        if (services_.log)
          services_.log->log({0, "setup_retries", POSTHOG_LOG_ERROR,
                              std::string("a set-up retry pass failed, tried again next pass: ") + e.what(), {}});
      },
      interval);
}

void SetupRetries::stop() { task_.stop(); }

}  // namespace posthog::server
