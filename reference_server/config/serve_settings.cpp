#include "serve_settings.hpp"

#include "redis_endpoint.hpp"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <cstdlib>

namespace posthog::server {
namespace {

[[noreturn]] void fail(const std::string& where, const std::string& why) {
  throw ConfigFileError("serve settings: " + where + ": " + why);
}

std::uint64_t number(std::string_view text, const std::string& where, std::uint64_t min, std::uint64_t max) {
  std::uint64_t v = 0;
  auto const r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || v < min || v > max)
    fail(where, "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ", not '" +
                    std::string(text) + "'");
  return v;
}

std::uint64_t json_number(const boost::json::object& o, const char* key, std::uint64_t fallback, std::uint64_t min,
                          std::uint64_t max, const char* path = "$.serve.") {
  auto const* v = o.if_contains(key);
  if (!v) return fallback;
  std::string const where = path + std::string(key);
  if (v->is_int64() && v->get_int64() >= 0) return number(std::to_string(v->get_int64()), where, min, max);
  if (v->is_uint64()) return number(std::to_string(v->get_uint64()), where, min, max);
  fail(where, "must be a whole number");
}

std::string string(const boost::json::object& o, const char* key, const std::string& where, std::string fallback) {
  auto const* v = o.if_contains(key);
  if (!v) return fallback;
  if (!v->is_string() || v->get_string().empty()) fail(where, "must be a non-empty string");
  return std::string(v->get_string());
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto const comma = s.find(',');
    auto item = s.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

void set_listen(std::string& host_out, std::uint16_t& port_out, std::string_view listen, const std::string& where) {
  auto const colon = listen.rfind(':');
  if (colon == std::string_view::npos) fail(where, "must be host:port, like 127.0.0.1:8000");
  auto host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  host_out = std::string(host);
  port_out = static_cast<std::uint16_t>(number(listen.substr(colon + 1), where, 0, 65535));
}

}  // namespace

ServeSettings::Environment ServeSettings::process_environment() {
  return [](const char* name) -> std::optional<std::string> {
    char const* v = std::getenv(name);
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

ServeSettings ServeSettings::from(const ServerConfig& config, const Environment& env) {
  ServeSettings s;
  s.workers = config.workers;
  auto const& o = config.serve;
  if (auto const* v = o.if_contains("listen")) {
    if (!v->is_string()) fail("$.serve.listen", "must be a string like 127.0.0.1:8000");
    set_listen(s.host, s.port, v->get_string(), "$.serve.listen");
  }
  s.io_threads = static_cast<unsigned>(json_number(o, "io_threads", s.io_threads, 1, 64));
  s.max_body_bytes = json_number(o, "max_body_bytes", s.max_body_bytes, 1024, std::uint64_t(1) << 32);
  s.max_decoded_bytes = json_number(o, "max_decoded_bytes", s.max_decoded_bytes, 1024, std::uint64_t(1) << 32);
  s.max_inflight_events = json_number(o, "max_inflight_events", s.max_inflight_events, 1, 100000000);
  s.max_batch_events = json_number(o, "max_batch_events", s.max_batch_events, 1, 1000000);
  s.max_json_depth = static_cast<unsigned>(json_number(o, "max_json_depth", s.max_json_depth, 8, 1024));
  s.max_connections = json_number(o, "max_connections", s.max_connections, 1, 1000000);
  s.retry_after_seconds = static_cast<int>(json_number(o, "retry_after_seconds", s.retry_after_seconds, 1, 3600));
  if (auto const* v = o.if_contains("trusted_proxies")) {
    if (!v->is_array()) fail("$.serve.trusted_proxies", "must be an array of IP addresses");
    for (auto const& p : v->get_array()) {
      if (!p.is_string()) fail("$.serve.trusted_proxies", "must be an array of IP addresses");
      s.trusted_proxies.emplace_back(p.get_string());
    }
  }
  if (auto const* v = o.if_contains("sink")) {
    if (!v->is_object()) fail("$.serve.sink", "must be an object like {\"type\": \"jsonl\", \"path\": \"events.jsonl\"}");
    auto const& sink = v->get_object();
    s.sink_type = string(sink, "type", "$.serve.sink.type", s.sink_type);
    s.sink_path = string(sink, "path", "$.serve.sink.path", s.sink_path.string());
    s.sink_fsync = string(sink, "fsync", "$.serve.sink.fsync", s.sink_fsync);
    s.sink_url = string(sink, "url", "$.serve.sink.url", s.sink_url);
    s.sink_api_key = string(sink, "api_key", "$.serve.sink.api_key", s.sink_api_key);
    s.sink_batch_events = json_number(sink, "batch_events", s.sink_batch_events, 1, 100000, "$.serve.sink.");
    s.sink_max_backlog_events =
        json_number(sink, "max_backlog_events", s.sink_max_backlog_events, 1, 1000000000, "$.serve.sink.");
    s.sink_drain_seconds =
        static_cast<unsigned>(json_number(sink, "drain_seconds", s.sink_drain_seconds, 0, 3600, "$.serve.sink."));
  }
  s.store_path = string(o, "store", "$.serve.store", s.store_path.string());
  if (auto const* v = o.if_contains("log")) {
    if (!v->is_object()) fail("$.serve.log", "must be an object like {\"dir\": \"event-log\", \"fsync\": \"batch\"}");
    auto const& l = v->get_object();
    s.log_dir = string(l, "dir", "$.serve.log.dir", s.log_dir.string());
    s.log_fsync = string(l, "fsync", "$.serve.log.fsync", s.log_fsync);
    s.log_fsync_interval_ms =
        static_cast<unsigned>(json_number(l, "fsync_interval_ms", s.log_fsync_interval_ms, 1, 60'000, "$.serve.log."));
    s.log_max_bytes = json_number(l, "max_bytes", s.log_max_bytes, 4096, std::uint64_t(1) << 44, "$.serve.log.");
    s.log_segment_bytes =
        json_number(l, "segment_bytes", s.log_segment_bytes, 4096, std::uint64_t(1) << 32, "$.serve.log.");
    s.log_partitions = static_cast<unsigned>(json_number(l, "partitions", s.log_partitions, 1, 1024, "$.serve.log."));
  }
  if (auto const* v = o.if_contains("exports")) {
    if (!v->is_object()) fail("$.serve.exports", "must be an object like {\"buffer_bytes\": 1048576}");
    auto const& e = v->get_object();
    s.export_buffer_bytes = json_number(e, "buffer_bytes", s.export_buffer_bytes, 1, 100 << 20, "$.serve.exports.");
    s.export_buffer_seconds =
        static_cast<unsigned>(json_number(e, "buffer_seconds", s.export_buffer_seconds, 1, 600, "$.serve.exports."));
    s.export_max_retries =
        static_cast<unsigned>(json_number(e, "max_retries", s.export_max_retries, 0, 30, "$.serve.exports."));
    s.export_retry_base_seconds = static_cast<unsigned>(
        json_number(e, "retry_base_seconds", s.export_retry_base_seconds, 1, 3600, "$.serve.exports."));
  }
  if (auto const* v = o.if_contains("jobs")) {
    if (!v->is_object()) fail("$.serve.jobs", "must be an object like {\"threads\": 2}");
    auto const& j = v->get_object();
    s.job_threads = static_cast<unsigned>(json_number(j, "threads", s.job_threads, 1, 64, "$.serve.jobs."));
    s.job_max_retries = static_cast<unsigned>(json_number(j, "max_retries", s.job_max_retries, 0, 30, "$.serve.jobs."));
    s.job_retry_base_seconds = static_cast<unsigned>(
        json_number(j, "retry_base_seconds", s.job_retry_base_seconds, 1, 3600, "$.serve.jobs."));
    s.job_visibility_seconds = static_cast<unsigned>(
        json_number(j, "visibility_seconds", s.job_visibility_seconds, 1, 86400, "$.serve.jobs."));
    s.job_clock_speed =
        static_cast<unsigned>(json_number(j, "clock_speed", s.job_clock_speed, 1, 3600, "$.serve.jobs."));
  }
  if (auto const* v = o.if_contains("redis")) {
    if (!v->is_object()) fail("$.serve.redis", "must be an object like {\"url\": \"redis://127.0.0.1:6379\"}");
    auto const& r = v->get_object();
    s.redis_url = string(r, "url", "$.serve.redis.url", s.redis_url);
    s.redis_prefix = string(r, "prefix", "$.serve.redis.prefix", s.redis_prefix);
    s.redis_pool_size = static_cast<unsigned>(json_number(r, "pool_size", s.redis_pool_size, 1, 256, "$.serve.redis."));
    s.redis_timeout_ms =
        static_cast<unsigned>(json_number(r, "timeout_ms", s.redis_timeout_ms, 10, 60000, "$.serve.redis."));
    if (auto const* st = r.if_contains("stream")) {
      if (!st->is_object()) fail("$.serve.redis.stream", "must be an object like {\"partitions\": 8}");
      auto const& t = st->get_object();
      auto field = [&](const char* name, unsigned current, std::uint64_t low, std::uint64_t high) {
        return static_cast<unsigned>(json_number(t, name, current, low, high, "$.serve.redis.stream."));
      };
      s.stream_partitions = field("partitions", s.stream_partitions, 1, 1024);
      s.stream_max_entries = field("max_entries", s.stream_max_entries, 1, 100000000);
      s.stream_lease_ms = field("lease_ms", s.stream_lease_ms, 300, 600000);
      s.stream_read_entries = field("read_entries", s.stream_read_entries, 1, 10000);
    }
  }
  if (auto const* v = o.if_contains("health")) {
    if (!v->is_object()) fail("$.serve.health", "must be an object like {\"enabled\": true, \"hard_timeout_ms\": 30000}");
    auto const& h = v->get_object();
    for (auto const& kv : h) {
      static constexpr std::string_view known[] = {"enabled", "bucket_tokens", "refill_per_second", "error_cost",
                                                   "slow_cost", "slow_from_ms", "slow_to_ms", "degraded_below_percent",
                                                   "pause_seconds", "pauses_before_disable", "pause_memory_seconds",
                                                   "hard_timeout_ms"};
      if (std::find(std::begin(known), std::end(known), kv.key()) == std::end(known))
        fail("$.serve.health." + std::string(kv.key()), "unknown setting");
    }
    auto& p = s.health;
    if (auto const* e = h.if_contains("enabled")) {
      if (!e->is_bool()) fail("$.serve.health.enabled", "must be true or false");
      p.enabled = e->get_bool();
    }
    auto field = [&](const char* name, std::uint64_t current, std::uint64_t low, std::uint64_t high) {
      return json_number(h, name, current, low, high, "$.serve.health.");
    };
    using std::chrono::milliseconds;
    p.bucket_tokens = static_cast<double>(field("bucket_tokens", 10'000, 1, 100'000'000));
    p.refill_per_second = static_cast<double>(field("refill_per_second", 10, 0, 100'000'000));
    p.error_cost = static_cast<double>(field("error_cost", 100, 0, 100'000'000));
    p.slow_cost = static_cast<double>(field("slow_cost", 20, 0, 100'000'000));
    p.slow_from = milliseconds(field("slow_from_ms", 100, 1, 3'600'000));
    p.slow_to = milliseconds(field("slow_to_ms", 5'000, 2, 3'600'000));
    if (p.slow_to <= p.slow_from) fail("$.serve.health.slow_to_ms", "must be more than slow_from_ms");
    p.degraded_below = static_cast<double>(field("degraded_below_percent", 80, 1, 100)) / 100.0;
    p.pause = milliseconds(field("pause_seconds", 600, 1, 86'400 * 30) * 1000);
    p.pauses_before_disable = static_cast<unsigned>(field("pauses_before_disable", 3, 1, 1000));
    p.pause_memory = milliseconds(field("pause_memory_seconds", 86'400, 1, 86'400 * 365) * 1000);
    p.hard_timeout = milliseconds(field("hard_timeout_ms", 30'000, 10, 86'400'000));
  }
  if (auto const* v = o.if_contains("setup_retries")) {
    if (!v->is_object()) fail("$.serve.setup_retries", "must be an object like {\"max_attempts\": 10, \"retry_base_ms\": 3000}");
    auto const& r = v->get_object();
    s.setup_max_attempts =
        static_cast<unsigned>(json_number(r, "max_attempts", s.setup_max_attempts, 1, 100, "$.serve.setup_retries."));
    s.setup_retry_base_ms = static_cast<unsigned>(
        json_number(r, "retry_base_ms", s.setup_retry_base_ms, 1, 3'600'000, "$.serve.setup_retries."));
  }
  s.role = string(o, "role", "$.serve.role", s.role);
  if (auto const* v = o.if_contains("isolation")) {
    if (v->is_string()) {
      s.isolation = v->get_string();
    } else if (v->is_object()) {
      auto const& i = v->get_object();
      s.isolation = string(i, "mode", "$.serve.isolation.mode", s.isolation);
      s.isolation_memory_limit_mb =
          json_number(i, "memory_limit_mb", s.isolation_memory_limit_mb, 0, std::uint64_t(1) << 30, "$.serve.isolation.");
    } else {
      fail("$.serve.isolation", "must be \"process\", \"thread\" or an object like {\"mode\": \"process\", "
                                "\"memory_limit_mb\": 4096}");
    }
  }
  s.cache_max_bytes = json_number(o, "cache_max_bytes", s.cache_max_bytes, 1 << 20, std::uint64_t(1) << 40);
  s.log_level = string(o, "log_level", "$.serve.log_level", s.log_level);
  if (auto const* v = o.if_contains("admin")) {
    if (!v->is_object()) fail("$.serve.admin", "must be an object like {\"listen\": \"127.0.0.1:8001\", \"token\": \"...\"}");
    auto const& admin = v->get_object();
    if (auto const* l = admin.if_contains("listen")) {
      if (!l->is_string()) fail("$.serve.admin.listen", "must be a string like 127.0.0.1:8001");
      set_listen(s.admin_host, s.admin_port, l->get_string(), "$.serve.admin.listen");
    }
    s.admin_token = string(admin, "token", "$.serve.admin.token", s.admin_token);
    s.admin_session_seconds = static_cast<unsigned>(
        json_number(admin, "session_seconds", s.admin_session_seconds, 60, 30 * 86'400, "$.serve.admin."));
    s.admin_max_sessions =
        static_cast<unsigned>(json_number(admin, "max_sessions", s.admin_max_sessions, 1, 1000, "$.serve.admin."));
  }

  // The environment wins over the file.
  if (auto v = env("WEB_HOST")) s.host = *v;
  if (auto v = env("WEB_PORT")) s.port = static_cast<std::uint16_t>(number(*v, "WEB_PORT", 0, 65535));
  if (auto v = env("IO_THREADS")) s.io_threads = static_cast<unsigned>(number(*v, "IO_THREADS", 1, 64));
  if (auto v = env("WORKER_CONCURRENCY")) s.workers = static_cast<unsigned>(number(*v, "WORKER_CONCURRENCY", 0, 1024));
  if (auto v = env("MAX_BODY_BYTES")) s.max_body_bytes = number(*v, "MAX_BODY_BYTES", 1024, std::uint64_t(1) << 32);
  if (auto v = env("MAX_DECODED_BYTES")) s.max_decoded_bytes = number(*v, "MAX_DECODED_BYTES", 1024, std::uint64_t(1) << 32);
  if (auto v = env("MAX_INFLIGHT_EVENTS")) s.max_inflight_events = number(*v, "MAX_INFLIGHT_EVENTS", 1, 100000000);
  if (auto v = env("MAX_BATCH_EVENTS")) s.max_batch_events = number(*v, "MAX_BATCH_EVENTS", 1, 1000000);
  if (auto v = env("MAX_CONNECTIONS")) s.max_connections = number(*v, "MAX_CONNECTIONS", 1, 1000000);
  if (auto v = env("RETRY_AFTER_SECONDS")) s.retry_after_seconds = static_cast<int>(number(*v, "RETRY_AFTER_SECONDS", 1, 3600));
  if (auto v = env("TRUSTED_PROXIES")) s.trusted_proxies = split_list(*v);
  if (auto v = env("SINK_TYPE")) s.sink_type = *v;
  if (auto v = env("SINK_PATH")) s.sink_path = *v;
  if (auto v = env("SINK_FSYNC")) s.sink_fsync = *v;
  if (auto v = env("SINK_URL")) s.sink_url = *v;
  if (auto v = env("SINK_API_KEY")) s.sink_api_key = *v;
  if (auto v = env("STORE_PATH")) s.store_path = *v;
  if (auto v = env("CACHE_MAX_BYTES")) s.cache_max_bytes = number(*v, "CACHE_MAX_BYTES", 1 << 20, std::uint64_t(1) << 40);
  if (auto v = env("LOG_LEVEL")) s.log_level = *v;
  if (auto v = env("LOG_DIR")) s.log_dir = *v;
  if (auto v = env("LOG_FSYNC")) s.log_fsync = *v;
  if (auto v = env("LOG_MAX_BYTES")) s.log_max_bytes = number(*v, "LOG_MAX_BYTES", 4096, std::uint64_t(1) << 44);
  if (auto v = env("REDIS_URL")) s.redis_url = *v;
  if (auto v = env("POSTHOG_ROLE")) s.role = *v;
  if (auto v = env("POSTHOG_ISOLATION")) s.isolation = *v;
  if (auto v = env("ADMIN_HOST")) s.admin_host = *v;
  if (auto v = env("ADMIN_PORT")) s.admin_port = static_cast<std::uint16_t>(number(*v, "ADMIN_PORT", 0, 65535));
  if (auto v = env("ADMIN_TOKEN")) s.admin_token = *v;

  if (s.sink_type != "jsonl" && s.sink_type != "posthog")
    fail("sink type", "must be jsonl or posthog, not '" + s.sink_type + "'");
  if (s.sink_fsync != "batch" && s.sink_fsync != "interval" && s.sink_fsync != "never")
    fail("sink fsync", "must be batch, interval or never, not '" + s.sink_fsync + "'");
  if (s.sink_type == "posthog" && s.sink_url.rfind("http://", 0) != 0 && s.sink_url.rfind("https://", 0) != 0)
    fail("sink url", "the posthog sink needs the URL of a PostHog instance, like https://eu.i.posthog.com, not '" +
                         s.sink_url + "'");
  if (s.log_fsync != "batch" && s.log_fsync != "interval" && s.log_fsync != "never")
    fail("log fsync", "must be batch, interval or never, not '" + s.log_fsync + "'");
  if (s.log_level != "debug" && s.log_level != "info" && s.log_level != "warn" && s.log_level != "error")
    fail("log level", "must be debug, info, warn or error, not '" + s.log_level + "'");
  if (!s.admin_token.empty() && s.admin_token.size() < 16)
    fail("admin token", "must be at least 16 characters (it guards every team's config)");
  if (!s.redis_url.empty()) {
    try {
      RedisEndpoint::parse(s.redis_url);
    } catch (const RedisUrlError& e) {
      fail("redis url", e.what());
    }
  }
  if (s.isolation != "process" && s.isolation != "thread")
    fail("isolation", "must be process or thread, not '" + s.isolation + "'");
  if (s.isolation_memory_limit_mb && s.isolation_memory_limit_mb < 64)
    fail("isolation memory limit", "must be 0 (none) or at least 64 MiB: a worker maps its plugins and stacks");
  if (s.role != "all" && s.role != "capture" && s.role != "worker")
    fail("role", "must be all, capture or worker, not '" + s.role + "'");
  if (s.role != "all" && s.redis_url.empty())
    fail("role", "'" + s.role + "' needs Redis (serve.redis.url or REDIS_URL): the stream is what joins "
                 "capture servers to workers");
  if (s.sink_path.is_relative()) s.sink_path = (config.base_dir / s.sink_path).lexically_normal();
  if (s.store_path.is_relative()) s.store_path = (config.base_dir / s.store_path).lexically_normal();
  if (s.log_dir.is_relative()) s.log_dir = (config.base_dir / s.log_dir).lexically_normal();
  return s;
}

}  // namespace posthog::server
