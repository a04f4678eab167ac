#include "event_stream.hpp"

#include <boost/json/serialize.hpp>

#include "redis_pool.hpp"
#include "redis_script.hpp"

namespace posthog::server {

namespace {

// KEYS: the streams; ARGV: max entries, team, depth, then one payload per key.
RedisScript const append_all(R"lua(
local max = tonumber(ARGV[1])
for i = 1, #KEYS do
  if redis.call('XLEN', KEYS[i]) >= max then return 0 end
end
for i = 1, #KEYS do
  redis.call('XADD', KEYS[i], '*', 't', ARGV[2], 'd', ARGV[3], 'e', ARGV[3 + i])
end
return 1
)lua");

}  // namespace

std::size_t stream_partition(std::int64_t team_id, std::string_view distinct_id, std::size_t partitions) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&](unsigned char c) {
    h ^= c;
    h *= 1099511628211ull;
  };
  auto const team = static_cast<std::uint64_t>(team_id);
  for (int i = 0; i < 8; ++i) mix(static_cast<unsigned char>(team >> (8 * i)));
  for (unsigned char c : distinct_id) mix(c);
  return partitions ? static_cast<std::size_t>(h % partitions) : 0;
}

std::string stream_key(std::string_view prefix, std::size_t partition) {
  return std::string(prefix) + "events:" + std::to_string(partition);
}

EventStream::EventStream(RedisPool& pool, std::string prefix, StreamLayout layout)
    : pool_(pool), prefix_(std::move(prefix)), layout_(layout) {}

bool EventStream::append(std::int64_t team_id, int depth, const std::vector<boost::json::object>& events) {
  if (events.empty()) return true;
  std::vector<std::string> lines(layout_.partitions);
  for (auto const& e : events) {
    std::string_view distinct_id;
    if (auto const* d = e.if_contains("distinct_id"); d && d->is_string()) distinct_id = d->get_string();
    auto& out = lines[stream_partition(team_id, distinct_id, layout_.partitions)];
    out += boost::json::serialize(e);
    out += '\n';
  }
  std::vector<std::string> keys;
  std::vector<std::string> args{std::to_string(layout_.max_entries), std::to_string(team_id), std::to_string(depth)};
  for (std::size_t p = 0; p < lines.size(); ++p) {
    if (lines[p].empty()) continue;
    keys.push_back(stream_key(prefix_, p));
    args.push_back(std::move(lines[p]));
  }
  auto const r = pool_.with([&](RedisConnection& c) { return append_all.run(c, keys, args); });
  return r.ok().integer == 1;
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
