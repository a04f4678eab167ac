// EventStream: the capture side of ingestion through Redis Streams.
//
// With Redis, a capture server does not run plugins on the events it accepts:
// it appends them to Redis and answers 200 once Redis has them, and worker
// servers (StreamConsumer) run them through the chains. There are
// `partitions` streams, `<prefix>events:<n>`; an event goes to the partition
// of its (team, distinct_id), so that one person's events stay in one stream,
// in order, and one worker at a time reads a stream (see StreamConsumer).
//
// One entry holds all of a request's events for one partition, as JSON lines
// (fields t: team, d: capture depth, e: the lines), so a /batch of 100 costs
// one entry per partition it touches, and the whole request one round trip:
// a script checks every target stream's length and appends to all or none.
// A stream at `max_entries` refuses (capture answers 503, nothing taken):
// bounded memory in Redis instead of unbounded growth.
//
//   EventStream stream(pool, "posthog-plugin-server:", {8, 10000});
//   if (!stream.append(team_id, 0, events)) answer 503;  // throws RedisUnavailable
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace posthog::server {

class RedisPool;

struct StreamLayout {
  std::size_t partitions = 8;       // streams; fixed for the life of a deployment
  std::size_t max_entries = 10000;  // per stream: entries waiting or being handled
};

// Stable across processes and builds (FNV-1a): every capture server must send
// a person's events to the same stream.
std::size_t stream_partition(std::int64_t team_id, std::string_view distinct_id, std::size_t partitions) noexcept;

std::string stream_key(std::string_view prefix, std::size_t partition);

class EventStream {
 public:
  EventStream(RedisPool& pool, std::string prefix, StreamLayout layout);

  // All of `events` (of one team) or none. False: a target stream is full.
  // Throws RedisUnavailable; RedisCommandError for an answer that makes no sense.
  bool append(std::int64_t team_id, int depth, const std::vector<boost::json::object>& events);
  // Entries waiting in each stream (for /metrics).
  std::vector<std::int64_t> lengths();

  const StreamLayout& layout() const noexcept { return layout_; }

 private:
  RedisPool& pool_;
  std::string prefix_;
  StreamLayout layout_;
};

}  // namespace posthog::server
