#include "redis_cache.hpp"

#include <stdexcept>

namespace posthog::server {

namespace {

std::vector<std::string> texts(const RedisReply& r) {
  std::vector<std::string> out;
  out.reserve(r.elements.size());
  for (auto const& e : r.elements) out.push_back(e.text);
  return out;
}

// A list read as a value, or a value as a list, finds nothing (as the memory cache).
bool wrong_type(const RedisReply& r) { return r.is_error() && r.text.rfind("WRONGTYPE", 0) == 0; }

}  // namespace

std::optional<std::string> RedisCache::get(std::string_view key) {
  auto const r = pool_.with([&](RedisConnection& c) { return c.command({"GET", full(key)}); });
  if (r.is_nil() || wrong_type(r)) return std::nullopt;
  return r.ok().text;
}

void RedisCache::set(std::string_view key, std::string_view json, std::chrono::seconds ttl) {
  auto const k = full(key);
  auto const seconds = std::to_string(ttl.count());
  pool_.with([&](RedisConnection& c) {
    return ttl.count() > 0 ? c.command({"SET", k, json, "EX", seconds}).ok() : c.command({"SET", k, json}).ok();
  });
}

std::int64_t RedisCache::incr(std::string_view key, std::int64_t by) {
  auto const r = pool_.with([&](RedisConnection& c) { return c.command({"INCRBY", full(key), std::to_string(by)}); });
  if (r.is_error()) throw std::invalid_argument("cache.incr: " + r.text);
  return r.integer;
}

bool RedisCache::expire(std::string_view key, std::chrono::seconds ttl) {
  auto const r = pool_.with([&](RedisConnection& c) {
    return c.command({"EXPIRE", full(key), std::to_string(std::max<std::int64_t>(ttl.count(), 0))});
  });
  return r.ok().integer == 1;
}

bool RedisCache::del(std::string_view key) {
  return pool_.with([&](RedisConnection& c) { return c.command({"DEL", full(key)}); }).ok().integer > 0;
}

std::int64_t RedisCache::lpush_many(std::string_view key, const std::vector<std::string_view>& values) {
  auto const k = full(key);
  if (values.empty()) return llen(key);
  auto const last = std::to_string(max_list_length - 1);
  std::vector<std::string_view> push{"LPUSH", k};
  push.insert(push.end(), values.begin(), values.end());
  auto const replies = pool_.with([&](RedisConnection& c) {
    return c.pipeline({{"MULTI"}, push, {"LTRIM", k, "0", last}, {"EXEC"}});
  });
  auto const& exec = replies.back().ok();
  if (exec.elements.size() != 2) throw std::runtime_error("cache.lpush: unexpected answer from Redis");
  if (wrong_type(exec.elements[0]))
    throw std::invalid_argument("cache.lpush: the value at this key is not a list");
  return std::min(exec.elements[0].ok().integer, max_list_length);
}

std::vector<std::string> RedisCache::lrange(std::string_view key, std::int64_t start, std::int64_t stop) {
  auto const r = pool_.with([&](RedisConnection& c) {
    return c.command({"LRANGE", full(key), std::to_string(start), std::to_string(stop)});
  });
  if (wrong_type(r)) return {};
  return texts(r.ok());
}

std::int64_t RedisCache::llen(std::string_view key) {
  auto const r = pool_.with([&](RedisConnection& c) { return c.command({"LLEN", full(key)}); });
  return wrong_type(r) ? 0 : r.ok().integer;
}

std::int64_t RedisCache::lrem(std::string_view key, std::int64_t count, std::string_view json) {
  auto const r = pool_.with([&](RedisConnection& c) { return c.command({"LREM", full(key), std::to_string(count), json}); });
  return wrong_type(r) ? 0 : r.ok().integer;
}

std::vector<std::string> RedisCache::lpop(std::string_view key, std::int64_t count) {
  if (count <= 0) return {};
  auto const r = pool_.with([&](RedisConnection& c) { return c.command({"LPOP", full(key), std::to_string(count)}); });
  if (r.is_nil() || wrong_type(r)) return {};
  return texts(r.ok());
}

std::optional<std::string> RedisStorage::get(std::string_view key) {
  auto const r = pool_.with([&](RedisConnection& c) { return c.command({"GET", prefix_ + std::string(key)}); });
  if (r.is_nil()) return std::nullopt;
  return r.ok().text;
}

void RedisStorage::set(std::string_view key, std::string_view json) {
  pool_.with([&](RedisConnection& c) { return c.command({"SET", prefix_ + std::string(key), json}).ok(); });
}

bool RedisStorage::del(std::string_view key) {
  return pool_.with([&](RedisConnection& c) { return c.command({"DEL", prefix_ + std::string(key)}); }).ok().integer > 0;
}

void RedisStorage::init_counter(std::string_view key, std::int64_t initial) {
  pool_.with([&](RedisConnection& c) {
    return c.command({"SET", prefix_ + std::string(key), std::to_string(initial), "NX"});
  });
}

std::int64_t RedisStorage::add_to_counter(std::string_view key, std::int64_t by) {
  auto const r = pool_.with([&](RedisConnection& c) {
    return c.command({"INCRBY", prefix_ + std::string(key), std::to_string(by)});
  });
  if (r.is_error())  // not an integer there, or the sum out of range
    throw std::invalid_argument("utils.cursor: the value at '" + std::string(key) + "' cannot be incremented: " + r.text);
  return r.integer;
}

}  // namespace posthog::server
