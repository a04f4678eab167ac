#include "event_stream.hpp"

#include "stores/redis/redis_pool.hpp"
#include "stores/redis/redis_script.hpp"

namespace posthog::server {

namespace {

// KEYS: the streams; ARGV: max entries, then one record per key.
RedisScript const append_all(R"lua(
local max = tonumber(ARGV[1])
for i = 1, #KEYS do
  if redis.call('XLEN', KEYS[i]) >= max then return 0 end
end
for i = 1, #KEYS do
  redis.call('XADD', KEYS[i], '*', 'r', ARGV[1 + i])
end
return 1
)lua");

}  // namespace

std::string stream_key(std::string_view prefix, std::size_t partition) {
  return std::string(prefix) + "events:" + std::to_string(partition);
}

EventStream::EventStream(RedisPool& pool, std::string prefix, StreamLayout layout)
    : pool_(pool), prefix_(std::move(prefix)), layout_(layout) {}

bool EventStream::append(std::span<const LogAppend> records) {
  if (records.empty()) return true;
  std::vector<std::string> keys;
  std::vector<std::string> args{std::to_string(layout_.max_entries)};
  for (auto const& r : records) {
    keys.push_back(stream_key(prefix_, r.partition));
    args.push_back(r.payload);
  }
  auto const reply = pool_.with([&](RedisConnection& c) { return append_all.run(c, keys, args); });
  return reply.ok().integer == 1;
}

std::vector<std::int64_t> EventStream::lengths() {
  std::vector<RedisArgs> commands;
  std::vector<std::string> keys;
  keys.reserve(layout_.partitions);
  for (std::size_t p = 0; p < layout_.partitions; ++p) keys.push_back(stream_key(prefix_, p));
  for (auto const& k : keys) commands.push_back({"XLEN", k});
  auto const replies = pool_.with([&](RedisConnection& c) { return c.pipeline(commands); });
  std::vector<std::int64_t> out;
  for (auto const& r : replies) out.push_back(r.is_error() ? 0 : r.integer);
  return out;
}

}  // namespace posthog::server
