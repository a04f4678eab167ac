// MemoryCache: the embedded TeamCache. Sharded by key hash so worker threads
// rarely meet on a lock; expiry is checked on access (an expired entry is gone
// the first time anyone looks) and swept by `purge_expired()`.
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "team_cache.hpp"

namespace posthog::server {

class MemoryCache final : public TeamCache {
 public:
  using Clock = std::chrono::steady_clock;
  // `now` is injectable so tests can move time without sleeping.
  explicit MemoryCache(std::function<Clock::time_point()> now = &Clock::now) : now_(std::move(now)) {}

  std::optional<std::string> get(std::string_view key) override;
  void set(std::string_view key, std::string_view json, std::chrono::seconds ttl) override;
  std::int64_t incr(std::string_view key, std::int64_t by) override;
  bool expire(std::string_view key, std::chrono::seconds ttl) override;
  bool del(std::string_view key) override;
  std::int64_t lpush(std::string_view key, std::string_view json) override;
  std::vector<std::string> lrange(std::string_view key, std::int64_t start, std::int64_t stop) override;
  std::int64_t llen(std::string_view key) override;
  std::int64_t lrem(std::string_view key, std::int64_t count, std::string_view json) override;
  std::vector<std::string> lpop(std::string_view key, std::int64_t count) override;

  std::size_t purge_expired();
  std::size_t size();

 private:
  struct Entry {
    std::string value;
    std::deque<std::string> list;
    bool is_list = false;
    Clock::time_point expires_at = Clock::time_point::max();
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries;
  };
  static constexpr std::size_t shard_count = 32;

  Shard& shard_for(std::string_view key) noexcept { return shards_[Hash{}(key) % shard_count]; }
  // The live entry for key, or nullptr (erasing it if it expired). Caller holds the shard lock.
  Entry* live(Shard& shard, std::string_view key);
  static Clock::time_point deadline(Clock::time_point now, std::chrono::seconds ttl);

  std::function<Clock::time_point()> now_;
  std::array<Shard, shard_count> shards_;
};

}  // namespace posthog::server
