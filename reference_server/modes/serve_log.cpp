#include "serve_log.hpp"

#include "config/serve_settings.hpp"
#include "sinks/fd_writer.hpp"
#include "diagnostics.hpp"

namespace posthog::server {

std::unique_ptr<SegmentLog> open_segment_log(const ServeSettings& settings, std::function<void()> sync_sink,
                                             FdWriter& err) {
  SegmentLogOptions options;
  options.dir = settings.log_dir;
  options.partitions = settings.log_partitions;
  options.fsync = parse_fsync_policy(settings.log_fsync);
  options.fsync_interval = std::chrono::milliseconds(settings.log_fsync_interval_ms);
  options.max_bytes = settings.log_max_bytes;
  options.segment_bytes = settings.log_segment_bytes;
  auto log = std::make_unique<SegmentLog>(options, std::move(sync_sink));
  auto const s = log->status();
  err.write(diagnostic_line({{"type", "event_log"},
                             {"dir", settings.log_dir.string()},
                             {"fsync", settings.log_fsync},
                             {"pending_events", s.pending_events},
                             {"redelivered_events", s.redelivered_events},
                             {"torn_bytes", s.torn_bytes}}));
  return log;
}

std::unique_ptr<RedisStreamLog> open_stream_log(RedisPool& pool, const ServeSettings& settings, std::string server_id,
                                                RedisStreamLog::Report report) {
  ConsumerPolicy policy;
  policy.lease = std::chrono::milliseconds(settings.stream_lease_ms);
  policy.read_entries = settings.stream_read_entries;
  return std::make_unique<RedisStreamLog>(pool, settings.redis_prefix,
                                          StreamLayout{settings.stream_partitions, settings.stream_max_entries},
                                          std::move(policy), std::move(server_id), std::move(report));
}

}  // namespace posthog::server
