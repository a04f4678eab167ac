// TeamCache: the store behind `meta.cache`, PostHog's cache API (Redis in
// PostHog: get/set with TTL, incr, expire, and capped lists).
//
// Keys arrive already scoped to one (team, plugin) by PluginScope, so a backend
// never needs to know about teams and a plugin can never name another team's
// key. Values are JSON text. The memory backend lives here; the Redis backend
// implements the same interface.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace posthog::server {

class TeamCache {
 public:
  // PostHog capped cache lists at 1,000 entries (extensions/cache.ts).
  static constexpr std::int64_t max_list_length = 1000;

  virtual ~TeamCache() = default;
  virtual std::optional<std::string> get(std::string_view key) = 0;
  // ttl <= 0: no expiry.
  virtual void set(std::string_view key, std::string_view json, std::chrono::seconds ttl) = 0;
  // Throws std::invalid_argument when the value is not an integer.
  virtual std::int64_t incr(std::string_view key, std::int64_t by) = 0;
  virtual bool expire(std::string_view key, std::chrono::seconds ttl) = 0;
  virtual bool del(std::string_view key) = 0;
  virtual std::int64_t lpush(std::string_view key, std::string_view json) = 0;
  // Every value in one step, the first pushed first (PostHog's lpush of an
  // array); the list is capped as by lpush.
  virtual std::int64_t lpush_many(std::string_view key, const std::vector<std::string_view>& values) = 0;
  // Redis semantics: inclusive bounds, negative counts from the end.
  virtual std::vector<std::string> lrange(std::string_view key, std::int64_t start, std::int64_t stop) = 0;
  virtual std::int64_t llen(std::string_view key) = 0;
  virtual std::int64_t lrem(std::string_view key, std::int64_t count, std::string_view json) = 0;
  virtual std::vector<std::string> lpop(std::string_view key, std::int64_t count) = 0;
};

}  // namespace posthog::server
