// MemoryCache: the embedded TeamCache. Sharded by key hash so worker threads
// rarely meet on a lock; expiry is checked on access (an expired entry is gone
// the first time anyone looks) and swept by `purge_expired()`.
//
// Memory is bounded: each shard may hold max_bytes / 32 of keys and values
// (plus a fixed estimate of bookkeeping per entry and list item). A write that
// goes over first drops the shard's expired entries, then other entries of the
// shard in no particular order (Redis' allkeys-random policy, which is what a
// cache of per-team counters and dedup keys can live with), and counts them.
// One entry bigger than a shard's budget is refused (std::length_error).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
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
  // max_bytes 0: unbounded.
  explicit MemoryCache(std::size_t max_bytes = 0, std::function<Clock::time_point()> now = &Clock::now)
      : now_(std::move(now)), shard_budget_(max_bytes / shard_count) {}

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

  std::size_t purge_expired();
  std::size_t size();
  std::size_t bytes();
  std::uint64_t evictions() const noexcept { return evictions_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::string value;
    std::deque<std::string> list;
    bool is_list = false;
    Clock::time_point expires_at = Clock::time_point::max();
    std::size_t bytes = 0;  // key, value, list items and bookkeeping, as counted in the shard
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries;
    std::size_t bytes = 0;
  };
  using Iterator = std::unordered_map<std::string, Entry, Hash, std::equal_to<>>::iterator;
  static constexpr std::size_t entry_overhead = 96, item_overhead = 40;
  static constexpr std::size_t shard_count = 32;

  Shard& shard_for(std::string_view key) noexcept { return shards_[Hash{}(key) % shard_count]; }
  // The live entry for key, or nullptr (erasing it if it expired). Caller holds the shard lock.
  Entry* live(Shard& shard, std::string_view key);
  static Clock::time_point deadline(Clock::time_point now, std::chrono::seconds ttl);
  static void grow(Shard& s, Entry& e, std::ptrdiff_t by) noexcept {
    e.bytes += by;
    s.bytes += by;
  }
  static void erase(Shard& s, Iterator it) noexcept {
    s.bytes -= it->second.bytes;
    s.entries.erase(it);
  }
  // A new entry for key (caller holds the lock and knows there is none).
  Entry& create(Shard& s, std::string_view key);
  // Throws std::length_error when one entry alone would exceed a shard's budget.
  void fits(std::size_t entry_bytes, const char* operation) const;
  // Over the budget after a write: make room, sparing `keep`.
  void evict(Shard& s, std::string_view keep);

  std::function<Clock::time_point()> now_;
  std::array<Shard, shard_count> shards_;
  std::size_t shard_budget_;
  std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace posthog::server
