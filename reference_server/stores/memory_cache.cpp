#include "memory_cache.hpp"

#include <charconv>
#include <stdexcept>

namespace posthog::server {

MemoryCache::Clock::time_point MemoryCache::deadline(Clock::time_point now, std::chrono::seconds ttl) {
  return ttl.count() > 0 ? now + ttl : Clock::time_point::max();
}

MemoryCache::Entry* MemoryCache::live(Shard& shard, std::string_view key) {
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) return nullptr;
  if (it->second.expires_at <= now_()) {
    erase(shard, it);
    return nullptr;
  }
  return &it->second;
}

MemoryCache::Entry& MemoryCache::create(Shard& s, std::string_view key) {
  Entry& e = s.entries[std::string(key)];
  grow(s, e, static_cast<std::ptrdiff_t>(key.size() + entry_overhead));
  return e;
}

void MemoryCache::fits(std::size_t entry_bytes, const char* operation) const {
  if (shard_budget_ && entry_bytes > shard_budget_)
    throw std::length_error(std::string("cache.") + operation + ": the entry would take " +
                            std::to_string(entry_bytes) + " bytes; one entry may take at most " +
                            std::to_string(shard_budget_) + " (1/32 of the cache's memory bound)");
}

void MemoryCache::evict(Shard& s, std::string_view keep) {
  if (!shard_budget_ || s.bytes <= shard_budget_) return;
  auto const now = now_();
  for (auto it = s.entries.begin(); it != s.entries.end() && s.bytes > shard_budget_;) {
    if (it->second.expires_at <= now && it->first != keep) {
      auto next = std::next(it);
      erase(s, it);
      it = next;
    } else {
      ++it;
    }
  }
  for (auto it = s.entries.begin(); it != s.entries.end() && s.bytes > shard_budget_;) {
    if (it->first == keep) {
      ++it;
      continue;
    }
    auto next = std::next(it);
    erase(s, it);
    evictions_.fetch_add(1, std::memory_order_relaxed);
    it = next;
  }
}

std::optional<std::string> MemoryCache::get(std::string_view key) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  auto* e = live(s, key);
  if (!e || e->is_list) return std::nullopt;
  return e->value;
}

void MemoryCache::set(std::string_view key, std::string_view json, std::chrono::seconds ttl) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  fits(key.size() + entry_overhead + json.size(), "set");
  Entry* e = live(s, key);
  if (!e) e = &create(s, key);
  grow(s, *e, static_cast<std::ptrdiff_t>(json.size()) - static_cast<std::ptrdiff_t>(e->value.size()));
  for (auto const& item : e->list) grow(s, *e, -static_cast<std::ptrdiff_t>(item.size() + item_overhead));
  e->value.assign(json);
  e->list.clear();
  e->is_list = false;
  e->expires_at = deadline(now_(), ttl);
  evict(s, key);
}

std::int64_t MemoryCache::incr(std::string_view key, std::int64_t by) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  Entry* e = live(s, key);
  std::int64_t value = 0;
  if (e) {
    auto const& text = e->value;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (e->is_list || ec != std::errc() || end != text.data() + text.size())
      throw std::invalid_argument("cache.incr: the value at this key is not an integer");
  } else {
    e = &create(s, key);
  }
  value += by;
  auto const old_size = e->value.size();
  e->value = std::to_string(value);
  grow(s, *e, static_cast<std::ptrdiff_t>(e->value.size()) - static_cast<std::ptrdiff_t>(old_size));
  evict(s, key);
  return value;
}

bool MemoryCache::expire(std::string_view key, std::chrono::seconds ttl) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  Entry* e = live(s, key);
  if (!e) return false;
  if (ttl.count() <= 0) {
    erase(s, s.entries.find(key));
    return true;
  }
  e->expires_at = now_() + ttl;
  return true;
}

bool MemoryCache::del(std::string_view key) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  auto it = s.entries.find(key);
  if (it == s.entries.end()) return false;
  erase(s, it);
  return true;
}

std::int64_t MemoryCache::lpush_many(std::string_view key, const std::vector<std::string_view>& values) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  Entry* e = live(s, key);
  if (!e) {
    e = &create(s, key);
    e->is_list = true;
  }
  if (!e->is_list) throw std::invalid_argument("cache.lpush: the value at this key is not a list");
  std::size_t added = 0;
  for (auto const v : values) added += v.size() + item_overhead;
  try {
    fits(e->bytes + added, "lpush");
  } catch (...) {
    if (e->list.empty()) erase(s, s.entries.find(key));
    throw;
  }
  for (auto const v : values) e->list.emplace_front(v);
  grow(s, *e, static_cast<std::ptrdiff_t>(added));
  while (static_cast<std::int64_t>(e->list.size()) > max_list_length) {
    grow(s, *e, -static_cast<std::ptrdiff_t>(e->list.back().size() + item_overhead));
    e->list.pop_back();
  }
  auto const length = static_cast<std::int64_t>(e->list.size());
  evict(s, key);
  return length;
}

std::vector<std::string> MemoryCache::lrange(std::string_view key, std::int64_t start, std::int64_t stop) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  Entry* e = live(s, key);
  if (!e || !e->is_list) return {};
  auto const n = static_cast<std::int64_t>(e->list.size());
  if (start < 0) start = std::max<std::int64_t>(0, n + start);
  if (stop < 0) stop = n + stop;
  stop = std::min(stop, n - 1);
  std::vector<std::string> out;
  for (auto i = start; i <= stop; ++i) out.push_back(e->list[static_cast<std::size_t>(i)]);
  return out;
}

std::int64_t MemoryCache::llen(std::string_view key) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  Entry* e = live(s, key);
  return e && e->is_list ? static_cast<std::int64_t>(e->list.size()) : 0;
}

std::int64_t MemoryCache::lrem(std::string_view key, std::int64_t count, std::string_view json) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  Entry* e = live(s, key);
  if (!e || !e->is_list) return 0;
  std::int64_t removed = 0;
  auto const limit = count == 0 ? INT64_MAX : (count < 0 ? -count : count);
  if (count >= 0) {
    for (auto it = e->list.begin(); it != e->list.end() && removed < limit;)
      if (*it == json) it = e->list.erase(it), ++removed;
      else ++it;
  } else {
    for (auto i = static_cast<std::int64_t>(e->list.size()) - 1; i >= 0 && removed < limit; --i)
      if (e->list[static_cast<std::size_t>(i)] == json) e->list.erase(e->list.begin() + i), ++removed;
  }
  grow(s, *e, -removed * static_cast<std::ptrdiff_t>(json.size() + item_overhead));
  return removed;
}

std::vector<std::string> MemoryCache::lpop(std::string_view key, std::int64_t count) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  Entry* e = live(s, key);
  std::vector<std::string> out;
  if (!e || !e->is_list) return out;
  while (count-- > 0 && !e->list.empty()) {
    grow(s, *e, -static_cast<std::ptrdiff_t>(e->list.front().size() + item_overhead));
    out.push_back(std::move(e->list.front()));
    e->list.pop_front();
  }
  return out;
}

std::size_t MemoryCache::purge_expired() {
  std::size_t purged = 0;
  auto const now = now_();
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (auto it = s.entries.begin(); it != s.entries.end();) {
      auto next = std::next(it);
      if (it->second.expires_at <= now) erase(s, it), ++purged;
      it = next;
    }
  }
  return purged;
}

std::size_t MemoryCache::bytes() {
  std::size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.bytes;
  }
  return n;
}

std::size_t MemoryCache::size() {
  std::size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.entries.size();
  }
  return n;
}

}  // namespace posthog::server
