// ServeSettings: serve mode's knobs, from the config file's "serve" section and
// then from environment variables in the spirit of PostHog's plugin server
// (the environment wins). The README's configuration table lists them all:
//
//   "serve": {"listen": "127.0.0.1:8000", "io_threads": 2, "max_body_bytes": 20971520,
//             "max_decoded_bytes": 20971520, "max_inflight_events": 20000,
//             "retry_after_seconds": 5, "trusted_proxies": ["127.0.0.1"],
//             "sink": {"type": "jsonl", "path": "events.jsonl", "fsync": "interval"}}
//
//   WEB_HOST, WEB_PORT, IO_THREADS, WORKER_CONCURRENCY, MAX_BODY_BYTES,
//   MAX_DECODED_BYTES, MAX_INFLIGHT_EVENTS, RETRY_AFTER_SECONDS,
//   TRUSTED_PROXIES (comma-separated), SINK_PATH, SINK_FSYNC
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

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
  int retry_after_seconds = 5;
  std::vector<std::string> trusted_proxies;  // peers whose X-Forwarded-For is believed
  std::filesystem::path sink_path = "events.jsonl";
  std::string sink_fsync = "interval";

  using Environment = std::function<std::optional<std::string>(const char* name)>;
  static Environment process_environment();

  // Throws ConfigFileError naming the key or variable at fault. Relative sink
  // paths resolve against the config file's folder.
  static ServeSettings from(const ServerConfig& config, const Environment& env = process_environment());
};

}  // namespace posthog::server
