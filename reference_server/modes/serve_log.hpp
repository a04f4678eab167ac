// The event log of serve mode, opened from the settings the same way by a
// server that runs its own chains (serve_topology) and by the supervisor of a
// worker process (worker_supervisor): on one machine, segment files; with
// Redis, the streams.
//
//   auto log = open_segment_log(settings, [&] { sink.sync(); }, err);  // says so on `err`
//   auto stream = open_stream_log(pool, settings, server_id, report);
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "log/redis_stream_log.hpp"
#include "log/segment_log.hpp"

namespace posthog::server {

struct ServeSettings;
class FdWriter;
class RedisPool;

// Reads what an earlier run left (cut torn tails, counted) and writes an
// `event_log` line with it. Throws what SegmentLog throws (a folder that
// cannot be written, a changed partition count with events in the old one).
std::unique_ptr<SegmentLog> open_segment_log(const ServeSettings& settings, std::function<void()> sync_sink,
                                             FdWriter& err);

std::unique_ptr<RedisStreamLog> open_stream_log(RedisPool& pool, const ServeSettings& settings, std::string server_id,
                                                RedisStreamLog::Report report);

}  // namespace posthog::server
