// RedisScheduleLock: the ScheduleLock of a cluster, so that exactly one server
// queues each run_every_* period.
//
// Each task's last period is a key (<prefix>schedule:<task>); claiming a new
// period takes a lock key (<prefix>schedule-lock:<task>) holding a random
// token with a TTL, checks the period, runs `then` (queueing the period's runs
// into the shared RedisJobQueue), and records the period and deletes the lock
// in one script that first checks the token, so only the holder can release it.
//
// Failure model:
//  - The holder dies before recording the period: nothing is recorded, the
//    lock runs out after `ttl`, and another server claims the period then (the
//    runs are late, never lost). If the dead holder had queued some runs
//    already, the skip rule (a run still queued or running is not queued
//    again) keeps them from running twice, unless one already finished.
//  - The holder stalls past `ttl`: another server may claim the same period;
//    the period is still recorded only forward, and the stalled holder's
//    claim reports the lost lock (ScheduleLockLost) after the fact.
//  - Redis unreachable: claim throws RedisUnavailable, nothing runs, and the
//    scheduler tries again each second; a missed period runs once when Redis
//    is back, as after downtime.
//
//   RedisScheduleLock lock(pool, "posthog-plugin-server:", std::chrono::seconds(30));
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

#include "stores/schedule_lock.hpp"

namespace posthog::server {

class RedisPool;

class ScheduleLockLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RedisScheduleLock final : public ScheduleLock {
 public:
  RedisScheduleLock(RedisPool& pool, std::string prefix, std::chrono::milliseconds ttl);
  void seed(std::string_view task, std::int64_t period_start_ms) override;
  // False when the period is settled or another server holds the lock now.
  // Throws what `then` throws (the lock is released, the period not moved),
  // ScheduleLockLost, RedisUnavailable.
  bool claim(std::string_view task, std::int64_t period_start_ms, const std::function<void()>& then) override;
  std::optional<std::int64_t> last_period(std::string_view task) override;

 private:
  std::string period_key(std::string_view task) const;
  std::string lock_key(std::string_view task) const;

  RedisPool& pool_;
  std::string prefix_;
  std::chrono::milliseconds ttl_;
};

}  // namespace posthog::server
