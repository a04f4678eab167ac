// RedisCache and RedisStorage: `meta.cache` and `meta.storage` on Redis, so
// that every server of a cluster sees the same values.
//
// Keys arrive scoped to one (team, plugin) by PluginScope ("@plugin/<plugin>/
// <team>/<key>", PostHog's layout); these add a prefix (default
// "posthog-plugin-server:") and the kind ("cache:" or "storage:"), so storage
// and cache never collide and several deployments can share one Redis. The
// semantics are the memory cache's, command for command: a read of a key of
// the other type (a list read as a value) finds nothing, LPUSH caps a list at
// 1,000 entries in the same MULTI, INCRBY of a non-integer is invalid_argument.
// Memory is bounded by Redis's own maxmemory, not by cache_max_bytes. Storage
// is as durable as the Redis it is on: enable AOF (appendonly yes) for it.
//
//   RedisPool pool(RedisEndpoint::parse(url), 4, std::chrono::milliseconds(500));
//   RedisCache cache(pool, "posthog-plugin-server:");
//   services.cache = &cache;
#pragma once

#include <string>

#include "stores/plugin_storage.hpp"
#include "stores/team_cache.hpp"
#include "redis_pool.hpp"

namespace posthog::server {

class RedisCache final : public TeamCache {
 public:
  RedisCache(RedisPool& pool, std::string prefix) : pool_(pool), prefix_(std::move(prefix) + "cache:") {}

  std::optional<std::string> get(std::string_view key) override;
  void set(std::string_view key, std::string_view json, std::chrono::seconds ttl) override;
  std::int64_t incr(std::string_view key, std::int64_t by) override;
  bool expire(std::string_view key, std::chrono::seconds ttl) override;
  bool del(std::string_view key) override;
  std::int64_t lpush(std::string_view key, std::string_view json) override { return lpush_many(key, {json}); }
  std::int64_t lpush_many(std::string_view key, const std::vector<std::string_view>& values) override;
  std::vector<std::string> lrange(std::string_view key, std::int64_t start, std::int64_t stop) override;
  std::int64_t llen(std::string_view key) override;
  std::int64_t lrem(std::string_view key, std::int64_t count, std::string_view json) override;
  std::vector<std::string> lpop(std::string_view key, std::int64_t count) override;

 private:
  std::string full(std::string_view key) const { return prefix_ + std::string(key); }
  RedisPool& pool_;
  std::string prefix_;
};

class RedisStorage final : public PluginStorage {
 public:
  RedisStorage(RedisPool& pool, std::string prefix) : pool_(pool), prefix_(std::move(prefix) + "storage:") {}

  std::optional<std::string> get(std::string_view key) override;
  void set(std::string_view key, std::string_view json) override;
  bool del(std::string_view key) override;
  void init_counter(std::string_view key, std::int64_t initial) override;
  std::int64_t add_to_counter(std::string_view key, std::int64_t by) override;

 private:
  RedisPool& pool_;
  std::string prefix_;
};

}  // namespace posthog::server
