// ServeSettings: serve mode's knobs, from the config file's "serve" section and
// then from environment variables in the spirit of PostHog's plugin server
// (the environment wins). The README's configuration table lists them all:
//
//   "serve": {"listen": "127.0.0.1:8000", "io_threads": 2, "max_body_bytes": 20971520,
//             "max_decoded_bytes": 20971520, "max_inflight_events": 20000,
//             "max_batch_events": 10000, "max_json_depth": 128, "max_connections": 10000,
//             "retry_after_seconds": 5, "trusted_proxies": ["127.0.0.1"],
//             "sink": {"type": "jsonl", "path": "events.jsonl", "fsync": "interval"},
//             // or {"type": "posthog", "url": "https://eu.i.posthog.com", "api_key": "phc_...",
//             //     "batch_events": 500, "max_backlog_events": 1000000, "drain_seconds": 5},
//             "store": "plugin-server.db", "cache_max_bytes": 268435456, "log_level": "info",
//             "log": {"dir": "event-log", "fsync": "batch", "max_bytes": 1073741824},
//             "admin": {"listen": "127.0.0.1:8001", "token": "...", "session_seconds": 28800,
//                       "max_sessions": 16}}
//
//   WEB_HOST, WEB_PORT, IO_THREADS, WORKER_CONCURRENCY, MAX_BODY_BYTES,
//   MAX_DECODED_BYTES, MAX_INFLIGHT_EVENTS, MAX_BATCH_EVENTS, MAX_CONNECTIONS, RETRY_AFTER_SECONDS,
//   TRUSTED_PROXIES (comma-separated), SINK_TYPE, SINK_PATH, SINK_FSYNC,
//   SINK_URL, SINK_API_KEY, STORE_PATH, CACHE_MAX_BYTES, LOG_LEVEL, LOG_DIR, LOG_FSYNC, LOG_MAX_BYTES,
//   ADMIN_HOST, ADMIN_PORT, ADMIN_TOKEN
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "health_policy.hpp"
#include "server_config.hpp"

namespace posthog::server {

struct ServeSettings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  unsigned io_threads = 2;
  unsigned workers = 0;  // 0: the config's "workers", else one per core
  std::size_t max_body_bytes = 20 << 20;     // PostHog's /batch limit
  std::size_t max_decoded_bytes = 20 << 20;  // after gzip / lz64 / base64
  std::size_t max_inflight_events = 20000;  // accepted, not yet in the sink: over it, 503
  // Events one request may carry: over it (or over max_inflight_events, which
  // such a request could never fit), 413 naming the limit.
  std::size_t max_batch_events = 10000;
  unsigned max_json_depth = 128;          // nesting of a request's JSON: deeper is a 400
  std::size_t max_connections = 10000;    // capture connections open at once (lowered to fit the fd limit)
  int retry_after_seconds = 5;
  std::vector<std::string> trusted_proxies;  // peers whose X-Forwarded-For is believed
  std::string sink_type = "jsonl";  // "jsonl" or "posthog"
  std::filesystem::path sink_path = "events.jsonl";
  std::string sink_fsync = "interval";
  std::string sink_url;      // posthog: the instance whose /batch/ receives the events
  std::string sink_api_key;  // posthog: one project for every team; empty: each team's own token
  std::size_t sink_batch_events = 500;
  std::size_t sink_max_backlog_events = 1000000;  // over it the sink refuses, and capture answers 503
  unsigned sink_drain_seconds = 5;  // at shutdown, how long to keep delivering before leaving the rest in the store
  std::filesystem::path store_path = "plugin-server.db";
  // The embedded event log (serve.log): where capture puts events before it
  // answers 200 (log/segment_log.hpp). With Redis, the stream is the log.
  std::filesystem::path log_dir = "event-log";
  std::string log_fsync = "batch";                       // batch, interval or never
  unsigned log_fsync_interval_ms = 1000;                 // interval: at most one fsync per this
  std::uint64_t log_max_bytes = std::uint64_t(1) << 30;  // on disk; over it capture answers 503
  std::uint64_t log_segment_bytes = std::uint64_t(64) << 20;
  unsigned log_partitions = 8;
  std::size_t cache_max_bytes = 256 << 20;
  // export_events (serve.exports): PostHog's buffer bounds and retry schedule.
  std::uint64_t export_buffer_bytes = 1024 * 1024;  // 1 B .. 100 MiB
  unsigned export_buffer_seconds = 10;              // 1 .. 600
  unsigned export_max_retries = 15;
  unsigned export_retry_base_seconds = 6;           // retry n waits base·2^(n-1), ± 10%
  // Jobs and schedules (serve.jobs): their threads, and the RetryError schedule.
  unsigned job_threads = 2;             // 1 .. 64
  unsigned job_max_retries = 15;        // 0 .. 30
  unsigned job_retry_base_seconds = 6;  // 1 .. 3600
  unsigned job_visibility_seconds = 300;  // 1 .. 86400: with Redis, a job running longer may run again elsewhere
  unsigned job_clock_speed = 1;          // 1 .. 3600: jobs and schedules see time run this much faster (tests, demos)
  // Redis (serve.redis, REDIS_URL): meta.cache and meta.storage shared by every
  // server of a cluster. Empty url: the embedded defaults (memory cache, SQLite storage).
  std::string redis_url;
  std::string redis_prefix = "posthog-plugin-server:";
  unsigned redis_pool_size = 4;       // 1 .. 256
  unsigned redis_timeout_ms = 1000;   // connect and command timeout, 10 .. 60000
  // With Redis, accepted events go through Redis Streams (serve.redis.stream):
  // capture appends, workers read in a consumer group (event_stream.hpp, stream_consumer.hpp).
  unsigned stream_partitions = 8;          // 1 .. 1024; the same on every server of a cluster
  unsigned stream_max_entries = 10000;     // per partition, 1 .. 10^8: over it, capture answers 503
  unsigned stream_lease_ms = 10000;        // 300 .. 600000: a dead worker's partitions move after it
  unsigned stream_read_entries = 64;       // 1 .. 10000 per read
  // What this server does (serve.role, POSTHOG_ROLE): "all" (capture and
  // work, the only choice without Redis), "capture" (append to the stream,
  // run no plugin hook but set-up) or "worker" (run the stream through the
  // chains, jobs, schedules and exports; no capture endpoint).
  std::string role = "all";
  // Where plugin hooks run (serve.isolation, POSTHOG_ISOLATION): "process"
  // (the default: in a worker process the server supervises, restarts after a
  // crash and kills past the hard timeout; modes/worker_supervisor.hpp) or
  // "thread" (in the server's own threads: a crashing plugin takes the server
  // down). Written as a string, or as {"mode": ..., "memory_limit_mb": N}.
  std::string isolation = "process";
  std::uint64_t isolation_memory_limit_mb = 0;  // the worker's address space (RLIMIT_AS); 0: unlimited
  // Plugin health (serve.health): PostHog's function-watcher bucket, see health_policy.hpp.
  HealthPolicy health;
  // A failed setup_team (serve.setup_retries): PostHog's 10 attempts, 3 s doubling.
  unsigned setup_max_attempts = 10;      // 1 .. 100
  unsigned setup_retry_base_ms = 3'000;  // 1 .. 3,600,000
  std::string log_level = "info";  // plugin log lines below it are kept but not printed
  std::string admin_host = "127.0.0.1";
  std::uint16_t admin_port = 8001;
  std::string admin_token;  // empty: the admin API is off
  // The console's sign-in sessions: each lives this long at most, and at most
  // this many at once (signing in past it ends the oldest).
  unsigned admin_session_seconds = 8 * 3600;  // 60 .. 30 days
  unsigned admin_max_sessions = 16;           // 1 .. 1,000

  using Environment = std::function<std::optional<std::string>(const char* name)>;
  static Environment process_environment();

  // Throws ConfigFileError naming the key or variable at fault. Relative sink
  // and store paths resolve against the config file's folder.
  static ServeSettings from(const ServerConfig& config, const Environment& env = process_environment());
};

}  // namespace posthog::server
