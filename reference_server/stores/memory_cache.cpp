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
    shard.entries.erase(it);
    return nullptr;
  }
  return &it->second;
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
  Entry& e = s.entries[std::string(key)];
  e = Entry{std::string(json), {}, false, deadline(now_(), ttl)};
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
    e = &s.entries[std::string(key)];
  }
  value += by;
  e->value = std::to_string(value);
  return value;
}

bool MemoryCache::expire(std::string_view key, std::chrono::seconds ttl) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  Entry* e = live(s, key);
  if (!e) return false;
  if (ttl.count() <= 0) {
    s.entries.erase(s.entries.find(key));
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
  s.entries.erase(it);
  return true;
}

std::int64_t MemoryCache::lpush(std::string_view key, std::string_view json) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  Entry* e = live(s, key);
  if (!e) {
    e = &s.entries[std::string(key)];
    e->is_list = true;
  }
  if (!e->is_list) throw std::invalid_argument("cache.lpush: the value at this key is not a list");
  e->list.emplace_front(json);
  while (static_cast<std::int64_t>(e->list.size()) > max_list_length) e->list.pop_back();
  return static_cast<std::int64_t>(e->list.size());
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
  return removed;
}

std::vector<std::string> MemoryCache::lpop(std::string_view key, std::int64_t count) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  Entry* e = live(s, key);
  std::vector<std::string> out;
  if (!e || !e->is_list) return out;
  while (count-- > 0 && !e->list.empty()) {
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
    std::erase_if(s.entries, [&](auto const& kv) { return kv.second.expires_at <= now && ++purged; });
  }
  return purged;
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
