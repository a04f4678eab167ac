// posthog/testing.hpp: unit-test a plugin class in a few lines, and run its
// built module through the real server end to end.
//
// PluginHarness drives a plugin class through the very adapters POSTHOG_PLUGIN
// generates (so exceptions become statuses exactly as in the server), with an
// in-memory cache, storage, logger and capture, like plugin-scaffold's test
// utilities:
//
//   #include <posthog/testing.hpp>
//   #include "helloworld.hpp"
//
//   posthog::testing::PluginHarness<HelloWorld> plugin({{"bar", "qux"}});
//   auto out = plugin.process_event(posthog::testing::make_event("$pageview"));
//   REQUIRE(out->at("properties").at("bar") == "qux");
//   REQUIRE(plugin.cache().get("counter")->as_int64() == 1);
//   REQUIRE(plugin.metrics().at("events") == 1);       // declared metrics, by name
//
// Attachments are given inline in the team config, as the server also takes
// them: {"file": {"file_name": "a.csv", "content_type": "text/csv", "contents": "..."}}.
//
// The manifest comes from the target's plugin.json when the test links the
// `<plugin>_manifest` target that posthog_add_plugin() creates, or is passed in.
//
// run_process_mode() feeds events to the real `posthog-plugin-server process`
// binary, which loads the built .so through the real loader:
//
//   auto run = posthog::testing::run_process_mode(server, config_json, {event1, event2});
//   REQUIRE(run.exit_code == 0);
//   REQUIRE(run.events.size() == 2);
//
// It starts the binary with ChildProcess (child_process.hpp), which a test can
// use directly for anything else it runs.
#pragma once

#include <stdlib.h>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "child_process.hpp"
#include "plugin.hpp"

namespace posthog::testing {

// A PostHog event as the server hands it to plugins.
inline boost::json::object make_event(std::string_view name, boost::json::object properties = {},
                                      std::string_view distinct_id = "user-1", std::int64_t team_id = 1) {
  static std::uint64_t counter = 0;
  char uuid[40];
  std::snprintf(uuid, sizeof uuid, "0190b2c4-0000-7000-8000-%012llx", static_cast<unsigned long long>(++counter));
  return boost::json::object{{"uuid", uuid},
                             {"event", name},
                             {"distinct_id", distinct_id},
                             {"team_id", team_id},
                             {"ip", "127.0.0.1"},
                             {"site_url", "http://localhost"},
                             {"now", "2026-01-01T00:00:00.000Z"},
                             {"timestamp", "2026-01-01T00:00:00.000Z"},
                             {"properties", std::move(properties)}};
}

// A hook threw: `kind` is the exception type as the server records it.
class HookFailed : public std::runtime_error {
 public:
  HookFailed(std::string hook, std::string kind, const std::string& message, bool retry)
      : std::runtime_error(hook + " threw " + kind + ": " + message),
        hook(std::move(hook)),
        kind(std::move(kind)),
        retry(retry) {}
  std::string hook;
  std::string kind;
  bool retry;  // a posthog::RetryError: the server would try again later
};

struct LogLine {
  int level;
  std::string message;
};

// A job the plugin queued through meta.jobs(...).
struct QueuedJob {
  std::string name;
  boost::json::value payload;
  std::int64_t run_at_ms;  // 0: run_now()
};

// In-memory services behind posthog_meta, with a clock tests can move.
class TestServices {
 public:
  using Clock = std::chrono::steady_clock;

  explicit TestServices(std::int64_t team_id) {
    meta_ = {sizeof(posthog_meta), team_id,  reinterpret_cast<posthog_context*>(this), &cache_api, &storage_api,
             &logger_api,          &capture_api, &jobs_api, 0, 0, &metrics_api, &cursor_api, nullptr};
  }
  TestServices(const TestServices&) = delete;
  TestServices& operator=(const TestServices&) = delete;

  const posthog_meta* meta() const noexcept { return &meta_; }
  void advance(std::chrono::seconds by) { offset_ += by; }
  std::vector<LogLine> logs() const {
    std::lock_guard lock(mutex_);
    return logs_;
  }
  std::vector<boost::json::object> captured() const {
    std::lock_guard lock(mutex_);
    return captured_;
  }
  std::vector<QueuedJob> jobs() const {
    std::lock_guard lock(mutex_);
    return jobs_;
  }
  // The names meta.jobs(...) accepts, as the server takes them from the module.
  void declare_jobs(std::vector<std::string> names) { job_names_ = std::move(names); }
  // The metrics meta.metrics(...) accepts, with their kinds (POSTHOG_METRIC_*).
  void declare_metrics(std::map<std::string, std::int32_t> kinds) { metric_kinds_ = std::move(kinds); }
  std::map<std::string, double> metrics() const {
    std::lock_guard lock(mutex_);
    return metrics_;
  }

 private:
  struct Entry {
    std::string value;
    std::vector<std::string> list;  // front = index 0
    bool is_list = false;
    Clock::time_point expires = Clock::time_point::max();
  };
  // Declared before the tables below, whose functions use them.
  mutable std::mutex mutex_;
  posthog_meta meta_{};
  std::chrono::seconds offset_{0};
  std::map<std::string, Entry> cache_;
  std::map<std::string, std::string> storage_;
  std::vector<LogLine> logs_;
  std::vector<boost::json::object> captured_;
  std::vector<QueuedJob> jobs_;
  std::vector<std::string> job_names_;
  std::map<std::string, std::int32_t> metric_kinds_;
  std::map<std::string, double> metrics_;

  static TestServices& self(posthog_context* c) { return *reinterpret_cast<TestServices*>(c); }
  Clock::time_point now() const { return Clock::now() + offset_; }
  Entry* live(std::string_view key) {
    auto it = cache_.find(std::string(key));
    if (it == cache_.end()) return nullptr;
    if (it->second.expires <= now()) {
      cache_.erase(it);
      return nullptr;
    }
    return &it->second;
  }
  static void give(posthog_bytes_sink sink, void* user, const std::string& s) { sink(user, s.data(), s.size()); }
  // LPUSH, the first value pushed first; lists capped at 1,000 as the server caps them.
  posthog_status push_front(std::string_view key, const char* const* jsons, const size_t* sizes, size_t count,
                            int64_t* length) {
    std::lock_guard lock(mutex_);
    auto* e = live(key);
    if (!e) {
      e = &cache_[std::string(key)];
      e->is_list = true;
    }
    if (!e->is_list) return POSTHOG_ERROR;
    for (size_t i = 0; i < count; ++i) e->list.insert(e->list.begin(), std::string(jsons[i], sizes[i]));
    if (e->list.size() > 1000) e->list.resize(1000);
    *length = static_cast<int64_t>(e->list.size());
    return POSTHOG_OK;
  }

  static inline const posthog_cache_api cache_api = {
      sizeof(posthog_cache_api),
      [](posthog_context* c, const char* k, size_t n, posthog_bytes_sink sink, void* user) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        auto* e = s.live({k, n});
        if (!e || e->is_list) return POSTHOG_NOT_FOUND;
        give(sink, user, e->value);
        return POSTHOG_OK;
      },
      [](posthog_context* c, const char* k, size_t n, const char* json, size_t jn, int64_t ttl) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        s.cache_[std::string(k, n)] =
            Entry{std::string(json, jn), {}, false,
                  ttl > 0 ? s.now() + std::chrono::seconds(ttl) : Clock::time_point::max()};
        return POSTHOG_OK;
      },
      [](posthog_context* c, const char* k, size_t n, int64_t by, int64_t* result) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        auto* e = s.live({k, n});
        if (!e) e = &s.cache_[std::string(k, n)];
        std::int64_t v = 0;
        if (!e->value.empty()) {
          char* end = nullptr;
          v = std::strtoll(e->value.c_str(), &end, 10);
          if (e->is_list || *end) return POSTHOG_ERROR;
        }
        *result = v + by;
        e->value = std::to_string(*result);
        return POSTHOG_OK;
      },
      [](posthog_context* c, const char* k, size_t n, int64_t ttl, int32_t* existed) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        auto* e = s.live({k, n});
        *existed = e ? 1 : 0;
        if (e) e->expires = s.now() + std::chrono::seconds(ttl);
        return POSTHOG_OK;
      },
      [](posthog_context* c, const char* k, size_t n, const char* json, size_t jn, int64_t* length) {
        return self(c).push_front({k, n}, &json, &jn, 1, length);
      },
      [](posthog_context* c, const char* k, size_t n, int64_t start, int64_t stop, posthog_bytes_sink sink,
         void* user) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        auto* e = s.live({k, n});
        if (!e || !e->is_list) return POSTHOG_OK;
        auto const len = static_cast<int64_t>(e->list.size());
        if (start < 0) start = start + len < 0 ? 0 : start + len;
        if (stop < 0) stop += len;
        for (auto i = start; i <= stop && i < len; ++i) give(sink, user, e->list[static_cast<size_t>(i)]);
        return POSTHOG_OK;
      },
      [](posthog_context* c, const char* k, size_t n, int64_t* length) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        auto* e = s.live({k, n});
        *length = e && e->is_list ? static_cast<int64_t>(e->list.size()) : 0;
        return POSTHOG_OK;
      },
      [](posthog_context* c, const char* k, size_t n, int64_t count, const char* json, size_t jn,
         int64_t* removed) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        *removed = 0;
        auto* e = s.live({k, n});
        if (!e || !e->is_list) return POSTHOG_OK;
        std::string_view value(json, jn);
        auto const limit = count == 0 ? INT64_MAX : (count < 0 ? -count : count);
        std::vector<std::string> kept;
        if (count >= 0) {
          for (auto& item : e->list)
            if (item == value && *removed < limit) ++*removed;
            else kept.push_back(std::move(item));
        } else {
          for (auto it = e->list.rbegin(); it != e->list.rend(); ++it)
            if (*it == value && *removed < limit) ++*removed;
            else kept.insert(kept.begin(), std::move(*it));
        }
        e->list = std::move(kept);
        return POSTHOG_OK;
      },
      [](posthog_context* c, const char* k, size_t n, int64_t count, posthog_bytes_sink sink, void* user) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        auto* e = s.live({k, n});
        if (!e || !e->is_list) return POSTHOG_OK;
        while (count-- > 0 && !e->list.empty()) {
          give(sink, user, e->list.front());
          e->list.erase(e->list.begin());
        }
        return POSTHOG_OK;
      },
      [](posthog_context* c, const char* k, size_t n) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        s.cache_.erase(std::string(k, n));
        return POSTHOG_OK;
      },
      [](posthog_context* c, const char* k, size_t n, const char* const* jsons, const size_t* sizes, size_t count,
         int64_t* length) {
        if (count > 1000) return POSTHOG_ERROR;  // PostHog refused bigger arrays
        return self(c).push_front({k, n}, jsons, sizes, count, length);
      },
  };

  static inline const posthog_storage_api storage_api = {
      sizeof(posthog_storage_api),
      [](posthog_context* c, const char* k, size_t n, posthog_bytes_sink sink, void* user) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        auto it = s.storage_.find(std::string(k, n));
        if (it == s.storage_.end()) return POSTHOG_NOT_FOUND;
        give(sink, user, it->second);
        return POSTHOG_OK;
      },
      [](posthog_context* c, const char* k, size_t n, const char* json, size_t jn) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        s.storage_[std::string(k, n)] = std::string(json, jn);
        return POSTHOG_OK;
      },
      [](posthog_context* c, const char* k, size_t n) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        s.storage_.erase(std::string(k, n));
        return POSTHOG_OK;
      },
  };

  static inline const posthog_logger_api logger_api = {
      sizeof(posthog_logger_api),
      [](posthog_context* c, int32_t level, const char* message, size_t size) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        s.logs_.push_back({level, std::string(message, size)});
      },
  };

  static inline const posthog_capture_api capture_api = {
      sizeof(posthog_capture_api),
      [](posthog_context* c, const char* name, size_t name_size, const char* props, size_t props_size) {
        auto& s = self(c);
        std::error_code ec;
        auto v = boost::json::parse(std::string_view(props, props_size), ec);
        if (ec || !v.is_object()) return POSTHOG_ERROR;
        std::lock_guard lock(s.mutex_);
        s.captured_.push_back({{"event", std::string_view(name, name_size)},
                               {"team_id", s.meta_.team_id},
                               {"properties", std::move(v.get_object())}});
        return POSTHOG_OK;
      },
  };

  static inline const posthog_metrics_api metrics_api = {
      sizeof(posthog_metrics_api),
      [](posthog_context* c, const char* name, size_t name_size, int32_t kind, double value) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        auto const declared = s.metric_kinds_.find(std::string(name, name_size));
        if (declared == s.metric_kinds_.end()) return POSTHOG_NOT_FOUND;
        if (declared->second != kind) return POSTHOG_ERROR;
        auto [it, fresh] = s.metrics_.emplace(declared->first, value);
        if (!fresh) {
          auto& v = it->second;
          v = kind == POSTHOG_METRIC_SUM ? v + value : kind == POSTHOG_METRIC_MAX ? std::max(v, value) : std::min(v, value);
        }
        return POSTHOG_OK;
      },
  };

  // Cursors live with storage, as on the server (storage.get reads them).
  static inline const posthog_cursor_api cursor_api = {
      sizeof(posthog_cursor_api),
      [](posthog_context* c, const char* k, size_t n, int64_t initial) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        s.storage_.emplace(std::string(k, n), std::to_string(initial));
        return POSTHOG_OK;
      },
      [](posthog_context* c, const char* k, size_t n, int64_t by, int64_t* result) {
        auto& s = self(c);
        std::lock_guard lock(s.mutex_);
        auto& v = s.storage_[std::string(k, n)];
        std::int64_t now = 0;
        if (!v.empty()) {
          char* end = nullptr;
          now = std::strtoll(v.c_str(), &end, 10);
          if (*end) return POSTHOG_ERROR;
        }
        *result = now + by;
        v = std::to_string(*result);
        return POSTHOG_OK;
      },
  };

  static inline const posthog_jobs_api jobs_api = {
      sizeof(posthog_jobs_api),
      [](posthog_context* c, const char* name, size_t name_size, const char* payload, size_t payload_size,
         int64_t run_at_ms) {
        auto& s = self(c);
        std::string job(name, name_size);
        bool known = false;
        for (auto const& n : s.job_names_) known = known || n == job;
        if (!known) return POSTHOG_NOT_FOUND;
        std::error_code ec;
        auto v = boost::json::parse(std::string_view(payload, payload_size), ec);
        if (ec) return POSTHOG_ERROR;
        std::lock_guard lock(s.mutex_);
        s.jobs_.push_back({std::move(job), std::move(v), run_at_ms});
        return POSTHOG_OK;
      },
  };

};

inline std::string_view default_manifest() {
#if defined(POSTHOG_PLUGIN_MANIFEST_JSON)
  return POSTHOG_PLUGIN_MANIFEST_JSON;
#else
  return {};
#endif
}

// One plugin class, one team: instance setup, team setup (config validated
// against the manifest first, as the server does), hooks, teardown.
template <class P>
class PluginHarness {
  using Adapter = detail::Module<P>;

 public:
  // Throws posthog::ConfigError (naming the field) when the config fails the
  // manifest's schema, HookFailed when setup_instance or the constructor throws.
  explicit PluginHarness(boost::json::object team_config = {}, boost::json::object settings = {},
                         std::string_view manifest_json = default_manifest(), std::int64_t team_id = 1)
      : services_(team_id) {
    if (manifest_json.empty())
      throw std::invalid_argument("PluginHarness: no manifest; link <plugin>_manifest or pass plugin.json text");
    manifest_ = Manifest::parse(manifest_json);
    if constexpr (HasExportEvents<P>) manifest_.add_export_fields();  // as the server does
    config_ = manifest_.validate_config(team_config);
    std::vector<std::string> names;
    Adapter::vtable.job_names(
        [](void* user, const char* n, size_t size) { static_cast<std::vector<std::string>*>(user)->emplace_back(n, size); },
        &names);
    services_.declare_jobs(std::move(names));
    std::map<std::string, std::int32_t> metric_kinds;
    Adapter::vtable.declared_metrics(
        [](void* user, const char* n, size_t size, int32_t kind) {
          (*static_cast<std::map<std::string, std::int32_t>*>(user))[std::string(n, size)] = kind;
        },
        &metric_kinds);
    services_.declare_metrics(std::move(metric_kinds));
    auto const settings_text = boost::json::serialize(settings);
    posthog_error error{};
    check("setup_instance", Adapter::setup_instance(settings_text.data(), settings_text.size(), &instance_, &error),
          error);
    auto const config_text = boost::json::serialize(config_);
    posthog_team_setup setup{sizeof(posthog_team_setup), team_id, config_text.data(), config_text.size(),
                             services_.meta()};
    auto const status = Adapter::setup_team(instance_, &setup, &team_, &error);
    if (status != POSTHOG_OK) {
      Adapter::teardown_instance(instance_, &error);
      check("setup_team", status, error);
    }
  }
  ~PluginHarness() {
    posthog_error error{};
    if (team_) Adapter::teardown_team(team_, services_.meta(), &error);
    if (instance_) Adapter::teardown_instance(instance_, &error);
  }
  PluginHarness(const PluginHarness&) = delete;
  PluginHarness& operator=(const PluginHarness&) = delete;

  // The event after the plugin, or nullopt when it dropped it. Throws HookFailed.
  std::optional<boost::json::object> process_event(boost::json::object event) {
    posthog_error error{};
    auto const status = Adapter::vtable.process_event(team_, &event, services_.meta(), &error);
    if (status == POSTHOG_DROP) return std::nullopt;
    check("process_event", status, error);
    return event;
  }
  void on_event(const boost::json::object& event) {
    posthog_error error{};
    check("on_event", Adapter::vtable.on_event(team_, &event, services_.meta(), &error), error);
  }
  // `attempt` of `max_attempts` reaches the plugin as meta.attempt() and meta.max_attempts().
  void export_events(const std::vector<boost::json::object>& events, std::uint32_t attempt = 1,
                     std::uint32_t max_attempts = 16) {
    std::vector<const void*> pointers;
    for (auto const& e : events) pointers.push_back(&e);
    posthog_error error{};
    auto meta = retry_meta(attempt, max_attempts);
    check("export_events", Adapter::vtable.export_events(team_, pointers.data(), pointers.size(), &meta, &error),
          error);
  }
  // Runs one of the plugin's job handlers, as the server would when the job is due.
  void run_job(std::string_view name, const boost::json::value& payload = {}, std::uint32_t attempt = 1,
               std::uint32_t max_attempts = 16) {
    if constexpr (!HasJobs<P>) throw std::logic_error("the plugin declares no jobs");
    auto const text = boost::json::serialize(payload);
    posthog_error error{};
    auto meta = retry_meta(attempt, max_attempts);
    check("run_job", Adapter::vtable.run_job(team_, name.data(), name.size(), text.data(), text.size(), &meta, &error),
          error);
  }
  // The jobs the plugin queued so far, oldest first.
  std::vector<QueuedJob> jobs() const { return services_.jobs(); }
  void run_every_minute() { scheduled("run_every_minute", Adapter::vtable.run_every_minute); }
  void run_every_hour() { scheduled("run_every_hour", Adapter::vtable.run_every_hour); }
  void run_every_day() { scheduled("run_every_day", Adapter::vtable.run_every_day); }

  // The plugin's view of its team's state, for assertions and set-up.
  Cache cache() const noexcept { return Cache(services_.meta()); }
  Storage storage() const noexcept { return Storage(services_.meta()); }
  std::vector<LogLine> logs() const { return services_.logs(); }
  // The declared metrics' values so far, by name (updated ones only).
  std::map<std::string, double> metrics() const { return services_.metrics(); }
  std::vector<boost::json::object> captured() const { return services_.captured(); }
  const boost::json::object& config() const noexcept { return config_; }
  const Manifest& manifest() const noexcept { return manifest_; }
  // Moves the cache's clock forward (TTL tests without sleeping).
  void advance_clock(std::chrono::seconds by) { services_.advance(by); }

 private:
  using Scheduled = posthog_status (*)(posthog_team*, const posthog_meta*, posthog_error*);
  posthog_meta retry_meta(std::uint32_t attempt, std::uint32_t max_attempts) const {
    posthog_meta meta = *services_.meta();
    meta.attempt = attempt;
    meta.max_attempts = max_attempts;
    return meta;
  }
  void scheduled(const char* hook, Scheduled fn) {
    if (!fn) throw std::logic_error(std::string("the plugin has no ") + hook + " hook");
    posthog_error error{};
    check(hook, fn(team_, services_.meta(), &error), error);
  }
  static void check(const char* hook, posthog_status status, const posthog_error& error) {
    if (status == POSTHOG_OK) return;
    if (status == POSTHOG_CONFIG_ERROR) throw ConfigError::from_message(error.message);
    throw HookFailed(hook, error.kind, error.message, status == POSTHOG_RETRY_ERROR);
  }

  TestServices services_;
  Manifest manifest_;
  boost::json::object config_;
  posthog_instance* instance_ = nullptr;
  posthog_team* team_ = nullptr;
};

// ---- end to end through the real server ---------------------------------------

struct ProcessRun {
  int exit_code = -1;
  std::vector<boost::json::object> events;      // stdout, parsed
  std::vector<boost::json::object> diagnostics;  // stderr JSON lines (errors, logs, summary)
  std::string raw_stdout, raw_stderr;

  // The stderr lines of one type ("plugin_error", "input_error", "load_error", "summary").
  std::vector<boost::json::object> of_type(std::string_view type) const {
    std::vector<boost::json::object> out;
    for (auto const& d : diagnostics)
      if (auto const* t = d.if_contains("type"); t && t->is_string() && t->get_string() == type) out.push_back(d);
    return out;
  }
};

namespace detail {
inline std::vector<boost::json::object> parse_lines(const std::string& text) {
  std::vector<boost::json::object> out;
  std::istringstream in(text);
  boost::json::parse_options options;
  options.max_depth = 1024;  // as deep as the server may let events be (Boost's default is 32)
  for (std::string line; std::getline(in, line);) {
    std::error_code ec;
    auto v = boost::json::parse(line, ec, {}, options);
    if (!ec && v.is_object()) out.push_back(std::move(v.get_object()));
  }
  return out;
}
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace detail

// Runs `server process --config <config_json>` with `input` as stdin (one JSON
// line each; strings are passed verbatim so tests can send malformed lines).
inline ProcessRun run_process_mode(const std::filesystem::path& server, const boost::json::object& config,
                                   const std::vector<std::string>& input, std::vector<std::string> extra_args = {}) {
  char dir_template[] = "/tmp/posthog-testing-XXXXXX";
  if (!::mkdtemp(dir_template)) throw std::runtime_error("run_process_mode: mkdtemp failed");
  std::filesystem::path dir(dir_template);
  {
    std::ofstream(dir / "config.json") << boost::json::serialize(config);
    std::ofstream in(dir / "in.jsonl");
    for (auto const& line : input) in << line << "\n";
  }
  std::vector<std::string> args{server.string(), "process", "--config", (dir / "config.json").string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  ProcessRun run;
  run.exit_code =
      ChildProcess(std::move(args), {.input = dir / "in.jsonl", .output = dir / "out.jsonl", .errors = dir / "err.jsonl"})
          .wait();
  run.raw_stdout = detail::slurp(dir / "out.jsonl");
  run.raw_stderr = detail::slurp(dir / "err.jsonl");
  run.events = detail::parse_lines(run.raw_stdout);
  run.diagnostics = detail::parse_lines(run.raw_stderr);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return run;
}

}  // namespace posthog::testing
