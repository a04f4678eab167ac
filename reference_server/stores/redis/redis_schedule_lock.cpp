#include "redis_schedule_lock.hpp"

#include <random>

#include "redis_pool.hpp"
#include "redis_script.hpp"

namespace posthog::server {

namespace {

// KEYS: the period, the lock. ARGV: the token, the period. 1: recorded and
// released; 0: the lock was not ours any more (recorded anyway, never backwards).
RedisScript const record_script(R"lua(
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if current < tonumber(ARGV[2]) then redis.call('SET', KEYS[1], ARGV[2]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
)lua");

std::string random_token() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  return std::to_string(random()) + std::to_string(random());
}

}  // namespace

RedisScheduleLock::RedisScheduleLock(RedisPool& pool, std::string prefix, std::chrono::milliseconds ttl)
    : pool_(pool), prefix_(std::move(prefix)), ttl_(ttl) {}

std::string RedisScheduleLock::period_key(std::string_view task) const {
  return prefix_ + "schedule:" + std::string(task);
}
std::string RedisScheduleLock::lock_key(std::string_view task) const {
  return prefix_ + "schedule-lock:" + std::string(task);
}

void RedisScheduleLock::seed(std::string_view task, std::int64_t period_start_ms) {
  pool_.with([&](RedisConnection& c) {
    return c.command({"SET", period_key(task), std::to_string(period_start_ms), "NX"}).ok();
  });
}

bool RedisScheduleLock::claim(std::string_view task, std::int64_t period_start_ms, const std::function<void()>& then) {
  auto const token = random_token();
  auto const lock = lock_key(task), period = period_key(task);
  auto const taken = pool_.with([&](RedisConnection& c) {
    return c.command({"SET", lock, token, "NX", "PX", std::to_string(ttl_.count())});
  });
  if (taken.ok().is_nil()) return false;  // another server is at it
  auto release = [&] {
    pool_.with([&](RedisConnection& c) { return release_if_held_script.run(c, {lock}, {token}); });
  };
  try {
    auto const current = pool_.with([&](RedisConnection& c) { return c.command({"GET", period}); });
    if (current.ok().is_nil()) {
      // Gone (Redis restarted empty, or flushed): seeded again from this
      // period, as a first start would be, so the next one runs.
      seed(task, period_start_ms);
      release();
      return false;
    }
    if (redis_integer(current.text) >= period_start_ms) {
      release();
      return false;
    }
    then();
  } catch (...) {
    try {
      release();
    } catch (const RedisUnavailable&) {  // it runs out by itself after the TTL; the first error is the one to report
    }
    throw;
  }
  auto const recorded = pool_.with([&](RedisConnection& c) {
    return record_script.run(c, {period, lock}, {token, std::to_string(period_start_ms)});
  });
  if (recorded.ok().integer != 1)
    throw ScheduleLockLost("the schedule lock of " + std::string(task) + " ran out (after " +
                           std::to_string(ttl_.count()) + " ms) while its runs were queued: another server may "
                           "have queued this period too");
  return true;
}

std::optional<std::int64_t> RedisScheduleLock::last_period(std::string_view task) {
  auto const r = pool_.with([&](RedisConnection& c) { return c.command({"GET", period_key(task)}); });
  if (r.ok().is_nil()) return std::nullopt;
  return redis_integer(r.text);
}

}  // namespace posthog::server
