// posthog/meta.hpp: what a hook can reach besides the event, scoped to its team.
//
// Every hook receives a Meta bound to one (team, plugin), PostHog's `meta`:
// `config`, `cache` (TTL, PostHog's cache API including its list operations),
// `storage` (persistent), `logger` (lines land in this plugin's log for this
// team, visible through the server), `jobs` (durable background work, see
// Jobs below), `metrics` (the ones the plugin declares), `utils.cursor` (an
// atomic counter), `attachments` (files uploaded for the team's config),
// `global` (this team copy's own mutable object) and `capture()` (emit a new
// event for the same team). None of them takes a team id: a plugin cannot
// name, and so cannot reach, another team's data. The state behind them
// (but `global`) lives in the server, so it survives a hot swap of the
// plugin's module.
//
//   bool process_event(posthog::Event& event, posthog::Meta& meta) {
//     auto seen = meta.cache.incr("seen");                  // atomic per team
//     meta.cache.set("last", event.name(), std::chrono::hours(24));
//     if (seen == 1) meta.logger.info("first event for this team");
//     meta.metrics("events").increment();                   // declared in `metrics[]`
//     return true;
//   }
//
// Values in cache and storage are JSON. Every call may throw std::runtime_error
// when the store behind it fails.
#pragma once

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
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
// True when the host's table of that size has the member (tables only grow at the end).
template <class Table, class Member>
bool has_member(const Table* table, Member Table::*member) noexcept {
  if (!table) return false;
  auto const offset = reinterpret_cast<std::size_t>(&(static_cast<Table*>(nullptr)->*member));
  return offset + sizeof(Member) <= table->size && table->*member;
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
  // PostHog's lpush of an array: every value in one step, the first pushed
  // first (the last ends up at the head); more than 1,000 at once is refused.
  std::int64_t lpush_many(std::string_view key, std::span<const boost::json::value> values) {
    if (values.size() > 1000)
      throw std::invalid_argument("cache.lpush_many: " + std::to_string(values.size()) +
                                  " values at once, more than the 1000 PostHog allowed");
    std::vector<std::string> texts;
    texts.reserve(values.size());
    for (auto const& v : values) texts.push_back(boost::json::serialize(v));
    if (!detail::has_member(m_->cache, &posthog_cache_api::lpush_many)) {  // a 1.2 host: one at a time
      std::int64_t length = llen(key);
      for (auto const& v : values) length = lpush(key, v);
      return length;
    }
    std::vector<const char*> data;
    std::vector<std::size_t> sizes;
    for (auto const& t : texts) data.push_back(t.data()), sizes.push_back(t.size());
    std::int64_t length = 0;
    detail::check(m_->cache->lpush_many(m_->context, key.data(), key.size(), data.data(), sizes.data(), data.size(),
                                        &length),
                  "cache.lpush_many");
    return length;
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
  void log(std::string_view line) const noexcept { log(POSTHOG_LOG_INFO, line); }  // console.log
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

// meta.metrics("name").increment(n) / .max(n) / .min(n): PostHog's plugin
// metrics. Declare them in the class, as PostHog's `export const metrics`:
//
//   static constexpr posthog::MetricDeclaration metrics[] = {
//       {"requests", posthog::MetricKind::sum}, {"slowest_ms", posthog::MetricKind::max}};
//
// A sum adds what increment() gives, a max keeps the largest value max() gave,
// a min the smallest. The server shows them per team in /metrics and the admin
// API. A name that is not declared, or the wrong operation for its kind,
// throws std::invalid_argument.
class Metric {
 public:
  Metric(const posthog_meta* meta, std::string_view name) noexcept : m_(meta), name_(name) {}
  void increment(double by = 1) const { update(POSTHOG_METRIC_SUM, by, "increment"); }
  void max(double value) const { update(POSTHOG_METRIC_MAX, value, "max"); }
  void min(double value) const { update(POSTHOG_METRIC_MIN, value, "min"); }

 private:
  void update(std::int32_t kind, double value, const char* op) const {
    std::string const what = "metrics(\"" + std::string(name_) + "\")." + op;
    if (!std::isfinite(value)) throw std::invalid_argument(what + ": only finite numbers are allowed for metrics");
    auto const* api = m_->size >= offsetof(posthog_meta, metrics) + sizeof(m_->metrics) ? m_->metrics : nullptr;
    if (!api) throw std::runtime_error(what + ": this host keeps no plugin metrics");
    auto const s = api->update(m_->context, name_.data(), name_.size(), kind, value);
    if (s == POSTHOG_NOT_FOUND) throw std::invalid_argument(what + ": the plugin declares no metric of that name");
    if (s == POSTHOG_ERROR) throw std::invalid_argument(what + ": the metric is declared with another kind");
    detail::check(s, what.c_str());
  }
  const posthog_meta* m_;
  std::string_view name_;
};

class Metrics {
 public:
  explicit Metrics(const posthog_meta* meta) noexcept : m_(meta) {}
  Metric operator()(std::string_view name) const noexcept { return Metric(m_, name); }

 private:
  const posthog_meta* m_;
};

// meta.utils.cursor: PostHog's atomic counter of this (team, plugin), kept
// with its storage (storage.get(key) reads it) and shared by every server of
// a cluster: init() sets it unless it is set already, increment() adds and
// returns the new value, atomically however many threads and servers call it.
class Cursor {
 public:
  explicit Cursor(const posthog_meta* meta) noexcept : m_(meta) {}
  void init(std::string_view key, std::int64_t initial = 0) {
    detail::check(api("init")->init(m_->context, key.data(), key.size(), initial), "utils.cursor.init");
  }
  std::int64_t increment(std::string_view key, std::int64_t by = 1) {
    std::int64_t result = 0;
    detail::check(api("increment")->increment(m_->context, key.data(), key.size(), by, &result),
                  "utils.cursor.increment");
    return result;
  }

 private:
  const posthog_cursor_api* api(const char* op) const {
    auto const* a = m_->size >= offsetof(posthog_meta, cursor) + sizeof(m_->cursor) ? m_->cursor : nullptr;
    if (!a) throw std::runtime_error(std::string("utils.cursor.") + op + ": this host has no cursors");
    return a;
  }
  const posthog_meta* m_;
};

struct Utils {
  Cursor cursor;
};

// A file uploaded for one of the team's `attachment` config fields, PostHog's
// meta.attachments[key]: {content_type, file_name, contents}.
struct Attachment {
  std::string file_name;
  std::string content_type;
  std::string contents;  // the bytes, as uploaded
};

// meta.attachments.get("key"): what was uploaded for that field (through the
// admin API), else what the team's config gives inline as {"file_name",
// "content_type", "contents"}, else nullopt. Read it in the constructor and
// keep what you need: every get() reads the store.
class Attachments {
 public:
  Attachments(const posthog_meta* meta, const Config& config) noexcept : m_(meta), config_(config) {}
  std::optional<Attachment> get(std::string_view key) const {
    auto const* api =
        m_->size >= offsetof(posthog_meta, attachments) + sizeof(m_->attachments) ? m_->attachments : nullptr;
    if (api) {
      struct Parts {
        Attachment a;
        int n = 0;
      } parts;
      auto const s = api->get(
          m_->context, key.data(), key.size(),
          [](void* user, const char* data, std::size_t size) {
            auto& p = *static_cast<Parts*>(user);
            std::string* field[] = {&p.a.file_name, &p.a.content_type, &p.a.contents};
            if (p.n < 3) field[p.n++]->assign(data, size);
          },
          &parts);
      if (s == POSTHOG_OK) return std::move(parts.a);
      if (s != POSTHOG_NOT_FOUND) detail::check(s, "attachments.get");
    }
    auto const* inline_value = config_.find(key);
    auto const* o = inline_value ? inline_value->if_object() : nullptr;
    auto const* contents = o ? o->if_contains("contents") : nullptr;
    if (!contents || !contents->is_string()) return std::nullopt;
    auto text = [&](const char* k) {
      auto const* v = o->if_contains(k);
      return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    return Attachment{text("file_name"), text("content_type"), std::string(contents->get_string())};
  }

 private:
  const posthog_meta* m_;
  const Config& config_;
};

// meta.global: PostHog's mutable per-plugin-config object, here one per team
// copy. It starts empty when the copy is set up (a config change or a hot swap
// makes a new copy, and a new one), is never shared with another team, and
// not with the other servers of a cluster: what must be shared goes to
// `storage` or `cache`. Hooks of one copy run on several threads at once, so
// it is reached under its lock. A C++ plugin's own members are the same thing
// with types; `global` is for code ported from JavaScript.
//
//   meta.global.with([&](boost::json::object& g) { g["last_uuid"] = event.uuid(); });
class Global {
 public:
  Global() = default;
  Global(const Global&) = delete;
  Global& operator=(const Global&) = delete;
  ~Global() { delete state_.load(std::memory_order_acquire); }

  template <class F>
  decltype(auto) with(F&& f) {
    auto& s = state();
    std::lock_guard lock(s.mutex);
    return f(s.values);
  }

 private:
  // Made on first use: a team copy whose plugin never touches `global` (most)
  // pays a pointer for it, not a mutex and an object.
  struct State {
    std::mutex mutex;
    boost::json::object values;
  };
  State& state() {
    auto* s = state_.load(std::memory_order_acquire);
    if (s) return *s;
    auto* made = new State;
    if (state_.compare_exchange_strong(s, made, std::memory_order_acq_rel)) return *made;
    delete made;  // another thread made it first
    return *s;
  }
  std::atomic<State*> state_{nullptr};
};

// The per-call view handed to hooks. Cheap to construct: a handful of pointers.
class Meta {
 public:
  Meta(const posthog_meta* meta, const Config& config, Global& global) noexcept
      : config(config),
        cache(meta),
        storage(meta),
        logger(meta),
        jobs(meta),
        metrics(meta),
        utils{Cursor(meta)},
        attachments(meta, config),
        global(global),
        m_(meta) {}

  const Config& config;
  Cache cache;
  Storage storage;
  Logger logger;
  Jobs jobs;
  Metrics metrics;
  Utils utils;
  Attachments attachments;
  Global& global;

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
