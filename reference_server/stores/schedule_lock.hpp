// ScheduleLock: which server runs a schedule's period.
//
// A schedule task ("run_every_minute", ...) has one current period, the wall-
// clock minute, hour or day it last ran for. claim() moves it forward to a new
// period and says whether this caller did: exactly one caller wins each
// period, however many servers ask, and a period can only move forward. That
// is the whole interface the Scheduler needs, so a cluster can put it on a
// shared store (Redis, later) while one server keeps it in its own store. Here
// it is the embedded store, which also makes it survive a restart: a period
// that already ran does not run again because the server came back.
//
// Claiming and queueing the period's runs are one atomic step: a crash or a
// store error between the two would otherwise mark a period as run with no run
// queued, and it would never run.
//
//   StoreScheduleLock lock(store);
//   lock.seed("run_every_minute", this_minute);      // first start: wait for the next one
//   lock.claim("run_every_minute", this_minute, [&] { queue the period's runs });
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

namespace posthog::server {

class DurableStore;

class ScheduleLock {
 public:
  virtual ~ScheduleLock() = default;
  // Records `period_start_ms` for a task that has no period yet (a first start
  // does not run the period it starts in, as cron would not).
  virtual void seed(std::string_view task, std::int64_t period_start_ms) = 0;
  // True for the one caller that moved the task from an earlier period to this
  // one; `then` runs in the same atomic step (its throwing undoes the claim).
  virtual bool claim(std::string_view task, std::int64_t period_start_ms, const std::function<void()>& then) = 0;
  virtual std::optional<std::int64_t> last_period(std::string_view task) = 0;
};

// The local implementation, in the embedded store's `schedule_periods` table.
class StoreScheduleLock final : public ScheduleLock {
 public:
  explicit StoreScheduleLock(DurableStore& store);
  ~StoreScheduleLock() override;
  void seed(std::string_view task, std::int64_t period_start_ms) override;
  // `then` runs inside the claim's transaction: it may use the same store.
  bool claim(std::string_view task, std::int64_t period_start_ms, const std::function<void()>& then) override;
  std::optional<std::int64_t> last_period(std::string_view task) override;

 private:
  struct Statements;
  DurableStore& store_;
  std::unique_ptr<Statements> s_;
};

}  // namespace posthog::server
