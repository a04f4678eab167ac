#include "plugin_scope.hpp"

#include <posthog/errors.hpp>

#include <boost/json/parse.hpp>
#include <cstring>
#include <exception>
#include <string_view>

#include "health/hook_calls.hpp"
#include "common/json_lines.hpp"
#include "health/team_plugin_states.hpp"
#include "common/event_ids.hpp"
#include "common/plugin_log.hpp"
#include "stores/plugin_attachments.hpp"
#include "loader/plugin_module.hpp"
#include "stores/plugin_storage.hpp"
#include "stores/store_failure.hpp"
#include "stores/team_cache.hpp"

namespace posthog::server {
namespace {

using std::chrono::seconds;

void report(posthog_context* c, const char* what, const std::exception& e) noexcept {
  try {
    c->services->log->log({c->team_id, c->plugin, POSTHOG_LOG_ERROR, std::string(what) + " failed: " + e.what(), {}});
  } catch (const std::exception&) {
    // The log itself failed (out of memory): the status returned to the plugin still says so.
  }
}

thread_local std::uint64_t host_failures = 0;

// The server's own stores out of reach, or its pipeline full: not something
// the plugin did (a refused argument, say), so not charged to its health.
bool host_at_fault(const std::exception& e) noexcept { return dynamic_cast<const StoreFailure*>(&e) != nullptr; }

// Runs a service call: no exception crosses back into the module.
template <class F>
posthog_status call(posthog_context* c, const char* what, F&& f) noexcept {
  try {
    return f();
  } catch (const posthog::RetryError& e) {  // busy, not broken: the plugin may try again later
    ++host_failures;
    report(c, what, e);
    return POSTHOG_RETRY_ERROR;
  } catch (const std::exception& e) {
    if (host_at_fault(e)) ++host_failures;
    report(c, what, e);
    return POSTHOG_ERROR;
  }
}

void give(posthog_bytes_sink sink, void* user, const std::string& s) { sink(user, s.data(), s.size()); }

const posthog_cache_api cache_api = {
    sizeof(posthog_cache_api),
    [](posthog_context* c, const char* k, size_t n, posthog_bytes_sink sink, void* user) {
      return call(c, "cache.get", [&] {
        auto v = c->services->cache->get(c->key(k, n));
        if (!v) return POSTHOG_NOT_FOUND;
        give(sink, user, *v);
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n, const char* json, size_t jn, int64_t ttl) {
      return call(c, "cache.set", [&] {
        c->services->cache->set(c->key(k, n), std::string_view(json, jn), seconds(ttl));
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n, int64_t by, int64_t* result) {
      return call(c, "cache.incr", [&] {
        *result = c->services->cache->incr(c->key(k, n), by);
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n, int64_t ttl, int32_t* existed) {
      return call(c, "cache.expire", [&] {
        *existed = c->services->cache->expire(c->key(k, n), seconds(ttl)) ? 1 : 0;
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n, const char* json, size_t jn, int64_t* length) {
      return call(c, "cache.lpush", [&] {
        *length = c->services->cache->lpush(c->key(k, n), std::string_view(json, jn));
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n, int64_t start, int64_t stop, posthog_bytes_sink sink, void* user) {
      return call(c, "cache.lrange", [&] {
        for (auto const& v : c->services->cache->lrange(c->key(k, n), start, stop)) give(sink, user, v);
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n, int64_t* length) {
      return call(c, "cache.llen", [&] {
        *length = c->services->cache->llen(c->key(k, n));
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n, int64_t count, const char* json, size_t jn, int64_t* removed) {
      return call(c, "cache.lrem", [&] {
        *removed = c->services->cache->lrem(c->key(k, n), count, std::string_view(json, jn));
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n, int64_t count, posthog_bytes_sink sink, void* user) {
      return call(c, "cache.lpop", [&] {
        for (auto const& v : c->services->cache->lpop(c->key(k, n), count)) give(sink, user, v);
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n) {
      return call(c, "cache.del", [&] {
        c->services->cache->del(c->key(k, n));
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n, const char* const* jsons, const size_t* sizes, size_t count,
       int64_t* length) {
      return call(c, "cache.lpush_many", [&] {
        // PostHog refused an array of more than 1,000 (extensions/cache.ts).
        if (count > 1000)
          throw std::invalid_argument("cache.lpush: " + std::to_string(count) + " values at once; 1000 at most");
        std::vector<std::string_view> values;
        values.reserve(count);
        for (size_t i = 0; i < count; ++i) values.emplace_back(jsons[i], sizes[i]);
        *length = c->services->cache->lpush_many(c->key(k, n), values);
        return POSTHOG_OK;
      });
    },
};

const posthog_storage_api storage_api = {
    sizeof(posthog_storage_api),
    [](posthog_context* c, const char* k, size_t n, posthog_bytes_sink sink, void* user) {
      return call(c, "storage.get", [&] {
        auto v = c->services->storage->get(c->key(k, n));
        if (!v) return POSTHOG_NOT_FOUND;
        give(sink, user, *v);
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n, const char* json, size_t jn) {
      return call(c, "storage.set", [&] {
        c->services->storage->set(c->key(k, n), std::string_view(json, jn));
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n) {
      return call(c, "storage.del", [&] {
        c->services->storage->del(c->key(k, n));
        return POSTHOG_OK;
      });
    },
};

const posthog_logger_api logger_api = {
    sizeof(posthog_logger_api),
    [](posthog_context* c, int32_t level, const char* message, size_t size) {
      call(c, "logger.log", [&] {
        c->services->log->log({c->team_id, c->plugin, level, std::string(message, size), {}});
        return POSTHOG_OK;
      });
    },
};

const posthog_capture_api capture_api = {
    sizeof(posthog_capture_api),
    [](posthog_context* c, const char* name, size_t name_size, const char* props, size_t props_size) {
      return call(c, "capture", [&] {
        if (!c->services->capture) throw std::runtime_error("capture is not available in this mode");
        boost::json::object properties;
        if (props_size) {
          auto v = boost::json::parse(std::string_view(props, props_size), {}, event_parse_options(default_max_json_depth));
          if (!v.is_object()) throw std::invalid_argument("capture: properties must be an object");
          properties = std::move(v.get_object());
        }
        auto const now = std::chrono::system_clock::now();
        boost::json::object event;
        event["event"] = std::string_view(name, name_size);
        if (auto const* id = properties.if_contains("distinct_id"); id && id->is_string())
          event["distinct_id"] = id->get_string();
        else
          event["distinct_id"] = c->plugin;  // PostHog's posthog.capture: the plugin's name
        properties["$lib"] = "posthog-plugin-server";
        event["properties"] = std::move(properties);
        event["team_id"] = c->team_id;
        event["uuid"] = make_uuid_v7(now);
        event["timestamp"] = iso8601(now);
        event["now"] = iso8601(now);
        c->services->capture->capture(c->team_id, std::move(event));
        return POSTHOG_OK;
      });
    },
};

// Bigger payloads belong in storage, with the key in the payload.
constexpr std::size_t max_job_payload = 1024 * 1024;

const posthog_jobs_api jobs_api = {
    sizeof(posthog_jobs_api),
    [](posthog_context* c, const char* name, size_t name_size, const char* payload, size_t payload_size,
       int64_t run_at_ms) {
      return call(c, "jobs.enqueue", [&] {
        std::string_view const job(name, name_size);
        bool known = false;
        if (c->module)
          for (auto const& n : c->module->job_names()) known = known || n == job;
        if (!known) return POSTHOG_NOT_FOUND;
        if (!c->services->jobs) throw std::runtime_error("jobs run in serve mode only");
        if (payload_size > max_job_payload)
          throw std::invalid_argument("job '" + std::string(job) + "': payload of " + std::to_string(payload_size) +
                                      " bytes, more than the 1 MiB a job may carry");
        // Refused here, where the plugin can be told, not when the job runs.
        boost::system::error_code ec;
        boost::json::parse(std::string_view(payload, payload_size), ec);
        if (ec) throw std::invalid_argument("job '" + std::string(job) + "': the payload is not JSON: " + ec.message());
        c->services->jobs->enqueue(c->team_id, c->plugin, job, std::string_view(payload, payload_size), run_at_ms);
        return POSTHOG_OK;
      });
    },
};

const posthog_metrics_api metrics_api = {
    sizeof(posthog_metrics_api),
    [](posthog_context* c, const char* name, size_t name_size, int32_t kind, double value) {
      return call(c, "metrics", [&] {
        std::string_view const metric(name, name_size);
        const PluginModule::MetricDeclaration* declared = nullptr;
        if (c->module)
          for (auto const& m : c->module->declared_metrics())
            if (m.name == metric) declared = &m;
        if (!declared) return POSTHOG_NOT_FOUND;
        if (static_cast<int32_t>(declared->kind) != kind) {
          static constexpr const char* ops[] = {"increment", "max", "min"};
          throw std::invalid_argument("metrics: '" + declared->name + "' is declared as a " +
                                      std::string(to_string(declared->kind)) + ": use " +
                                      ops[static_cast<int>(declared->kind)] + "()");
        }
        if (!c->services->states) throw std::runtime_error("metrics: this host keeps no plugin metrics");
        c->state_for_update().metrics().update(metric, declared->kind, value);
        return POSTHOG_OK;
      });
    },
};

// The cursor is kept with storage, under the plugin's own keys (PostHog's
// posthog_pluginstorage rows): storage.get reads it.
const posthog_cursor_api cursor_api = {
    sizeof(posthog_cursor_api),
    [](posthog_context* c, const char* k, size_t n, int64_t initial) {
      return call(c, "utils.cursor.init", [&] {
        c->services->storage->init_counter(c->key(k, n), initial);
        return POSTHOG_OK;
      });
    },
    [](posthog_context* c, const char* k, size_t n, int64_t by, int64_t* result) {
      return call(c, "utils.cursor.increment", [&] {
        *result = c->services->storage->add_to_counter(c->key(k, n), by);
        return POSTHOG_OK;
      });
    },
};

const posthog_attachments_api attachments_api = {
    sizeof(posthog_attachments_api),
    [](posthog_context* c, const char* k, size_t n, posthog_bytes_sink sink, void* user) {
      return call(c, "attachments.get", [&] {
        auto a = PluginAttachments(*c->services->storage).get(c->team_id, c->plugin, std::string_view(k, n));
        if (!a) return POSTHOG_NOT_FOUND;
        give(sink, user, a->file_name);
        give(sink, user, a->content_type);
        give(sink, user, a->contents);
        return POSTHOG_OK;
      });
    },
};

// Optional services are posthog_meta's nullable fields; the retired lookup by
// name stays NULL (abi.h).
const posthog_host_api the_host_api = {sizeof(posthog_host_api), POSTHOG_ABI_MAJOR, POSTHOG_ABI_MINOR, nullptr};

}  // namespace

const posthog_host_api* host_api() noexcept { return &the_host_api; }

std::uint64_t host_service_failures() noexcept { return host_failures; }

}  // namespace posthog::server

posthog::server::TeamPluginState* posthog_context::state_if_any() const {
  auto* known = state.load(std::memory_order_acquire);
  if (known || !services->states) return known;
  // None yet: look again only when one was made somewhere since the last look.
  auto const epoch = services->states->epoch();
  if (seen_epoch.load(std::memory_order_relaxed) == epoch) return nullptr;
  known = services->states->find(team_id, plugin);
  if (known) state.store(known, std::memory_order_release);
  seen_epoch.store(epoch, std::memory_order_relaxed);
  return known;
}

posthog::server::TeamPluginState& posthog_context::state_for_update() const {
  if (auto* known = state_if_any()) return *known;
  auto& made = services->states->of(team_id, plugin);
  state.store(&made, std::memory_order_release);
  return made;
}

namespace posthog::server {

PluginScope::PluginScope(std::int64_t team_id, std::string plugin, HostServices& services,
                         const PluginModule* module)
    : context_{team_id, interned_plugin_name(plugin), &services, module} {}

posthog_meta PluginScope::meta() const noexcept {
  return {sizeof(posthog_meta), context_.team_id, &context_,   &cache_api,  &storage_api, &logger_api,
          &capture_api,         &jobs_api,        0,           0,           &metrics_api, &cursor_api,
          &attachments_api};
}

}  // namespace posthog::server
