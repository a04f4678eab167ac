// posthog/meta.hpp: what a hook can reach besides the event, scoped to its team.
//
// Every hook receives a Meta bound to one (team, plugin): `config`, `cache`
// (TTL, PostHog's cache API including its list operations), `storage`
// (persistent), `logger` (lines land in this plugin's log for this team, visible
// through the server) and `capture()` (emit a new event for the same team). None
// of them takes a team id: a plugin cannot name, and so cannot reach, another
// team's data. The state behind them lives in the server, so it survives a hot
// swap of the plugin's module.
//
//   bool process_event(posthog::Event& event, posthog::Meta& meta) {
//     auto seen = meta.cache.incr("seen");                  // atomic per team
//     meta.cache.set("last", event.name(), std::chrono::hours(24));
//     if (seen == 1) meta.logger.info("first event for this team");
//     return true;
//   }
//
// Values in cache and storage are JSON. Every call may throw std::runtime_error
// when the store behind it fails.
#pragma once

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "abi.h"
#include "config.hpp"

namespace posthog {

namespace detail {
inline void append_to_string(void* user, const char* data, std::size_t size) {
  static_cast<std::string*>(user)->append(data, size);
}
inline void push_to_vector(void* user, const char* data, std::size_t size) {
  static_cast<std::vector<std::string>*>(user)->emplace_back(data, size);
}
inline void check(posthog_status status, const char* what) {
  if (status != POSTHOG_OK) throw std::runtime_error(std::string(what) + " failed (status " + std::to_string(status) + ")");
}
inline boost::json::value parse_stored(const std::string& text) {
  std::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) return boost::json::value(text);  // a raw string stored by another client
  return v;
}
}  // namespace detail

class Cache {
 public:
  explicit Cache(const posthog_meta* meta) noexcept : m_(meta) {}

  std::optional<boost::json::value> get(std::string_view key) const {
    std::string text;
    auto s = m_->cache->get(m_->context, key.data(), key.size(), detail::append_to_string, &text);
    if (s == POSTHOG_NOT_FOUND) return std::nullopt;
    detail::check(s, "cache.get");
    return detail::parse_stored(text);
  }
  boost::json::value get(std::string_view key, boost::json::value fallback) const {
    auto v = get(key);
    return v ? std::move(*v) : std::move(fallback);
  }
  void set(std::string_view key, const boost::json::value& value,
           std::chrono::seconds ttl = std::chrono::seconds(0)) {
    auto text = boost::json::serialize(value);
    detail::check(m_->cache->set(m_->context, key.data(), key.size(), text.data(), text.size(), ttl.count()),
                  "cache.set");
  }
  // Stores a JSON string (event fields are string_views).
  void set(std::string_view key, std::string_view value, std::chrono::seconds ttl = std::chrono::seconds(0)) {
    set(key, boost::json::value(value), ttl);
  }
  void set(std::string_view key, const char* value, std::chrono::seconds ttl = std::chrono::seconds(0)) {
    set(key, std::string_view(value), ttl);
  }
  std::int64_t incr(std::string_view key, std::int64_t by = 1) {
    std::int64_t result = 0;
    detail::check(m_->cache->incr(m_->context, key.data(), key.size(), by, &result), "cache.incr");
    return result;
  }
  // false when the key does not exist.
  bool expire(std::string_view key, std::chrono::seconds ttl) {
    std::int32_t existed = 0;
    detail::check(m_->cache->expire(m_->context, key.data(), key.size(), ttl.count(), &existed), "cache.expire");
    return existed != 0;
  }
  void del(std::string_view key) { detail::check(m_->cache->del(m_->context, key.data(), key.size()), "cache.del"); }

  // Lists, as PostHog's cache: the server caps a list's length (see the README).
  std::int64_t lpush(std::string_view key, const boost::json::value& value) {
    auto text = boost::json::serialize(value);
    std::int64_t length = 0;
    detail::check(m_->cache->lpush(m_->context, key.data(), key.size(), text.data(), text.size(), &length),
                  "cache.lpush");
    return length;
  }
  std::vector<boost::json::value> lrange(std::string_view key, std::int64_t start, std::int64_t stop) const {
    std::vector<std::string> items;
    detail::check(m_->cache->lrange(m_->context, key.data(), key.size(), start, stop, detail::push_to_vector, &items),
                  "cache.lrange");
    return parse_all(items);
  }
  std::int64_t llen(std::string_view key) const {
    std::int64_t length = 0;
    detail::check(m_->cache->llen(m_->context, key.data(), key.size(), &length), "cache.llen");
    return length;
  }
  std::int64_t lrem(std::string_view key, std::int64_t count, const boost::json::value& value) {
    auto text = boost::json::serialize(value);
    std::int64_t removed = 0;
    detail::check(m_->cache->lrem(m_->context, key.data(), key.size(), count, text.data(), text.size(), &removed),
                  "cache.lrem");
    return removed;
  }
  std::vector<boost::json::value> lpop(std::string_view key, std::int64_t count = 1) {
    std::vector<std::string> items;
    detail::check(m_->cache->lpop(m_->context, key.data(), key.size(), count, detail::push_to_vector, &items),
                  "cache.lpop");
    return parse_all(items);
  }

 private:
  static std::vector<boost::json::value> parse_all(const std::vector<std::string>& items) {
    std::vector<boost::json::value> out;
    out.reserve(items.size());
    for (auto const& i : items) out.push_back(detail::parse_stored(i));
    return out;
  }
  const posthog_meta* m_;
};

class Storage {
 public:
  explicit Storage(const posthog_meta* meta) noexcept : m_(meta) {}

  std::optional<boost::json::value> get(std::string_view key) const {
    std::string text;
    auto s = m_->storage->get(m_->context, key.data(), key.size(), detail::append_to_string, &text);
    if (s == POSTHOG_NOT_FOUND) return std::nullopt;
    detail::check(s, "storage.get");
    return detail::parse_stored(text);
  }
  boost::json::value get(std::string_view key, boost::json::value fallback) const {
    auto v = get(key);
    return v ? std::move(*v) : std::move(fallback);
  }
  void set(std::string_view key, const boost::json::value& value) {
    auto text = boost::json::serialize(value);
    detail::check(m_->storage->set(m_->context, key.data(), key.size(), text.data(), text.size()), "storage.set");
  }
  void set(std::string_view key, std::string_view value) { set(key, boost::json::value(value)); }
  void set(std::string_view key, const char* value) { set(key, std::string_view(value)); }
  void del(std::string_view key) {
    detail::check(m_->storage->del(m_->context, key.data(), key.size()), "storage.del");
  }

 private:
  const posthog_meta* m_;
};

class Logger {
 public:
  explicit Logger(const posthog_meta* meta) noexcept : m_(meta) {}
  void debug(std::string_view line) const noexcept { log(POSTHOG_LOG_DEBUG, line); }
  void info(std::string_view line) const noexcept { log(POSTHOG_LOG_INFO, line); }
  void warn(std::string_view line) const noexcept { log(POSTHOG_LOG_WARN, line); }
  void error(std::string_view line) const noexcept { log(POSTHOG_LOG_ERROR, line); }
  void log(int level, std::string_view line) const noexcept {
    m_->logger->log(m_->context, level, line.data(), line.size());
  }

 private:
  const posthog_meta* m_;
};

// The per-call view handed to hooks. Cheap to construct: a handful of pointers.
class Meta {
 public:
  Meta(const posthog_meta* meta, const Config& config) noexcept
      : config(config), cache(meta), storage(meta), logger(meta), m_(meta) {}

  const Config& config;
  Cache cache;
  Storage storage;
  Logger logger;

  std::int64_t team_id() const noexcept { return m_->team_id; }

  // Emits a new event for this team into the pipeline (PostHog's posthog.capture).
  // Its distinct_id is properties["distinct_id"] when given, else the plugin's name.
  void capture(std::string_view event_name, const boost::json::object& properties = {}) {
    auto text = boost::json::serialize(properties);
    detail::check(m_->capture->capture(m_->context, event_name.data(), event_name.size(), text.data(), text.size()),
                  "capture");
  }

  const posthog_meta* c_meta() const noexcept { return m_; }

 private:
  const posthog_meta* m_;
};

// Given to setup_instance: the plugin's instance-level settings from the server
// config (plugins[].settings), shared by every team.
struct InstanceContext {
  const boost::json::object& settings;
};

// Given to the plugin's constructor (its per-team setup).
struct TeamContext {
  std::int64_t team_id;
  const Config& config;
  Meta& meta;
};

}  // namespace posthog
