// EventStream: the capture side of ingestion through Redis Streams.
//
// With Redis, a capture server does not run plugins on the events it accepts:
// it appends them to Redis and answers 200 once Redis has them, and worker
// servers (StreamConsumer) run them through the chains. There are
// `partitions` streams, `<prefix>events:<n>`; an event goes to the partition
// of its (team, distinct_id), so that one person's events stay in one stream,
// in order, and one worker at a time reads a stream (see StreamConsumer).
//
// One entry holds all of a request's events for one partition: an event log
// record (log/log_record.hpp, field r), so a /batch of 100 costs one entry
// per partition it touches, and the whole request one round trip: a script
// checks every target stream's length and appends to all or none. A stream at
// `max_entries` refuses (capture answers 503, nothing taken): bounded memory
// in Redis instead of unbounded growth.
//
//   EventStream stream(pool, "posthog-plugin-server:", {8, 10000});
//   if (!stream.append(records)) answer 503;  // throws RedisUnavailable
#pragma once

#include <cstddef>
#include <span>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "event_log.hpp"

namespace posthog::server {

class RedisPool;

struct StreamLayout {
  std::size_t partitions = 8;       // streams; fixed for the life of a deployment
  std::size_t max_entries = 10000;  // per stream: entries waiting or being handled
};

std::string stream_key(std::string_view prefix, std::size_t partition);

class EventStream {
 public:
  EventStream(RedisPool& pool, std::string prefix, StreamLayout layout);

  // All of `records` or none. False: a target stream is full.
  // Throws RedisUnavailable; RedisCommandError for an answer that makes no sense.
  bool append(std::span<const LogAppend> records);
  // Entries waiting in each stream (for /metrics).
  std::vector<std::int64_t> lengths();

  const StreamLayout& layout() const noexcept { return layout_; }

 private:
  RedisPool& pool_;
  std::string prefix_;
  StreamLayout layout_;
};

}  // namespace posthog::server
