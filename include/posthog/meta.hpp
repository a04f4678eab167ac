// posthog/meta.hpp: what a hook can reach besides the event, scoped to its team.
//
// Every hook receives a Meta bound to one (team, plugin): `config`, `cache`
// (TTL, PostHog's cache API including its list operations), `storage`
// (persistent), `logger` (lines land in this plugin's log for this team, visible
// through the server), `jobs` (durable background work, see Jobs below) and
// `capture()` (emit a new event for the same team). None
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
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "abi.h"
#include "config.hpp"
#include "errors.hpp"

namespace posthog {

namespace detail {
inline void append_to_string(void* user, const char* data, std::size_t size) {
  static_cast<std::string*>(user)->append(data, size);
}
inline void push_to_vector(void* user, const char* data, std::size_t size) {
  static_cast<std::vector<std::string>*>(user)->emplace_back(data, size);
}
inline void check(posthog_status status, const char* what) {
  // The host is busy (e.g. capture while the pipeline is full): a RetryError, so
  // that a job or an export that does not catch it is simply run again later.
  if (status == POSTHOG_RETRY_ERROR) throw RetryError(std::string(what) + ": the server is busy, try again later");
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

// A job about to be queued: say when it runs. PostHog's
// `meta.jobs.name(payload).runNow() / runIn(n, unit) / runAt(date)`.
class JobRequest {
 public:
  JobRequest(const posthog_meta* meta, std::string_view name, boost::json::value payload)
      : m_(meta), name_(name), payload_(std::move(payload)) {}
  void run_now() { enqueue(0); }
  template <class Rep, class Period>
  void run_in(std::chrono::duration<Rep, Period> delay) {
    auto const now = std::chrono::system_clock::now();
    run_at(now + std::chrono::duration_cast<std::chrono::system_clock::duration>(delay));
  }
  void run_at(std::chrono::system_clock::time_point when) {
    auto const ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
    enqueue(ms > 0 ? ms : 1);  // 0 would mean "now"; a time before 1970 is also "now"
  }

 private:
  void enqueue(std::int64_t run_at_ms) {
    if (m_->size < offsetof(posthog_meta, jobs) + sizeof(m_->jobs) || !m_->jobs)
      throw std::runtime_error("jobs: this host runs no jobs (serve mode does)");
    auto const text = boost::json::serialize(payload_);
    auto const s = m_->jobs->enqueue(m_->context, name_.data(), name_.size(), text.data(), text.size(), run_at_ms);
    if (s == POSTHOG_NOT_FOUND)
      throw std::invalid_argument("jobs: the plugin declares no job named '" + std::string(name_) + "'");
    detail::check(s, "jobs.enqueue");
  }
  const posthog_meta* m_;
  std::string name_;  // owned: a request may be kept and run later in the hook
  boost::json::value payload_;
};

// meta.jobs("name", payload).run_in(std::chrono::minutes(5)): queues a job, one
// of the handlers the plugin declares (see plugin.hpp), with a JSON payload. It
// is kept in the server's store, so it runs after a restart too, and a handler
// that throws posthog::RetryError runs again later, with backoff.
class Jobs {
 public:
  explicit Jobs(const posthog_meta* meta) noexcept : m_(meta) {}
  JobRequest operator()(std::string_view name, boost::json::value payload = {}) const {
    return JobRequest(m_, name, std::move(payload));
  }

 private:
  const posthog_meta* m_;
};

// The per-call view handed to hooks. Cheap to construct: a handful of pointers.
class Meta {
 public:
  Meta(const posthog_meta* meta, const Config& config) noexcept
      : config(config), cache(meta), storage(meta), logger(meta), jobs(meta), m_(meta) {}

  const Config& config;
  Cache cache;
  Storage storage;
  Logger logger;
  Jobs jobs;

  std::int64_t team_id() const noexcept { return m_->team_id; }

  // In export_events and jobs: which attempt this is (1 the first time) and the
  // last one the server will make, so a plugin can tell a first failure from a
  // last chance (PostHog's RetryError carried the same two numbers). 0 and 0
  // in hooks that are not retried.
  std::uint32_t attempt() const noexcept { return has_retry_fields() ? m_->attempt : 0; }
  std::uint32_t max_attempts() const noexcept { return has_retry_fields() ? m_->max_attempts : 0; }

  // Emits a new event for this team into the pipeline (PostHog's posthog.capture).
  // Its distinct_id is properties["distinct_id"] when given, else the plugin's name.
  void capture(std::string_view event_name, const boost::json::object& properties = {}) {
    auto text = boost::json::serialize(properties);
    detail::check(m_->capture->capture(m_->context, event_name.data(), event_name.size(), text.data(), text.size()),
                  "capture");
  }

  const posthog_meta* c_meta() const noexcept { return m_; }

 private:
  bool has_retry_fields() const noexcept {
    return m_->size >= offsetof(posthog_meta, max_attempts) + sizeof(m_->max_attempts);
  }
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
