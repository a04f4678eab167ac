#include "redis_export_queue.hpp"

#include <algorithm>
#include <map>

#include "redis_pool.hpp"
#include "redis_script.hpp"

namespace posthog::server {

namespace {

// ARGV: prefix, "<team>/<plugin>", max bytes, max events, team, plugin, now.
// Returns {id, events joined by newlines} or nil when nothing is pending.
RedisScript const cut_script(R"lua(
local P, tp = ARGV[1], ARGV[2]
local max_bytes, max_events = tonumber(ARGV[3]), tonumber(ARGV[4])
local list = P .. 'exports:pending:' .. tp
local items = redis.call('LRANGE', list, 0, max_events - 1)
if #items == 0 then return false end
local events, bytes = {}, 0
for _, item in ipairs(items) do
  local json = string.sub(item, string.find(item, ' ', 1, true) + 1)
  if #events > 0 and bytes + #json > max_bytes then break end
  events[#events + 1] = json
  bytes = bytes + #json
end
redis.call('LTRIM', list, #events, -1)
redis.call('HINCRBY', P .. 'exports:pending-bytes', tp, -bytes)
if redis.call('LLEN', list) == 0 then
  redis.call('SREM', P .. 'exports:pending-index', tp)
  redis.call('HDEL', P .. 'exports:pending-bytes', tp)
end
local id = redis.call('INCR', P .. 'exports:next-id')
local text = table.concat(events, '\n')
redis.call('HSET', P .. 'exports:batch:' .. id, 'team', ARGV[5], 'plugin', ARGV[6], 'events', text, 'count', #events,
           'attempt', 0, 'next_at', ARGV[7], 'error', '', 'dead', 0)
redis.call('ZADD', P .. 'exports:due', ARGV[7], id)
redis.call('SADD', P .. 'exports:of:' .. tp, id)
return {id, text}
)lua");

// ARGV: prefix, now, limit, handover ms. Returns each batch's fields, with its id.
RedisScript const due_script(R"lua(
local P, now = ARGV[1], tonumber(ARGV[2])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'exports:due', '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))) do
  redis.call('ZADD', P .. 'exports:due', now + tonumber(ARGV[4]), id)
  redis.call('HSET', P .. 'exports:batch:' .. id, 'claim', redis.call('INCR', P .. 'exports:claims'))
  local fields = redis.call('HGETALL', P .. 'exports:batch:' .. id)
  fields[#fields + 1] = 'id'
  fields[#fields + 1] = id
  out[#out + 1] = fields
end
return out
)lua");

// The last ARGV of delivered, retry and dead: the caller's hand-over token
// ('' for none). A stale one (the hand-over ran out, another runner has the
// batch) changes nothing: that runner settles it.
RedisScript const delivered_script(R"lua(
local P, id = ARGV[1], ARGV[2]
local k = P .. 'exports:batch:' .. id
if ARGV[3] ~= '' and redis.call('EXISTS', k) == 1 and redis.call('HGET', k, 'claim') ~= ARGV[3] then return -1 end
local owner = redis.call('HMGET', k, 'team', 'plugin')
redis.call('DEL', k)
redis.call('ZREM', P .. 'exports:due', id)
redis.call('ZREM', P .. 'exports:dead', id)
if owner[1] then redis.call('SREM', P .. 'exports:of:' .. owner[1] .. '/' .. owner[2], id) end
return 1
)lua");

// ARGV: prefix, id, attempt, next at, error, token.
RedisScript const retry_script(R"lua(
local P, id = ARGV[1], ARGV[2]
local k = P .. 'exports:batch:' .. id
if redis.call('EXISTS', k) == 0 then return 0 end
if ARGV[6] ~= '' and redis.call('HGET', k, 'claim') ~= ARGV[6] then return -1 end
redis.call('HSET', k, 'attempt', ARGV[3], 'next_at', ARGV[4], 'error', ARGV[5])
redis.call('ZADD', P .. 'exports:due', ARGV[4], id)
return 1
)lua");

// ARGV: prefix, id, attempt, error, token.
RedisScript const dead_script(R"lua(
local P, id = ARGV[1], ARGV[2]
local k = P .. 'exports:batch:' .. id
if redis.call('EXISTS', k) == 0 then return 0 end
if ARGV[5] ~= '' and redis.call('HGET', k, 'claim') ~= ARGV[5] then return -1 end
redis.call('HSET', k, 'attempt', ARGV[3], 'error', ARGV[4], 'dead', 1)
redis.call('ZREM', P .. 'exports:due', id)
redis.call('ZADD', P .. 'exports:dead', id, id)
return 1
)lua");

// ARGV: prefix, id, now.
RedisScript const replay_script(R"lua(
local P, id = ARGV[1], ARGV[2]
if redis.call('ZREM', P .. 'exports:dead', id) == 0 then return 0 end
redis.call('HSET', P .. 'exports:batch:' .. id, 'attempt', 0, 'next_at', ARGV[3], 'dead', 0)
redis.call('ZADD', P .. 'exports:due', ARGV[3], id)
return 1
)lua");

std::string owner(std::int64_t team_id, const std::string& plugin) { return std::to_string(team_id) + "/" + plugin; }

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= text.size() && !text.empty()) {
    auto const end = text.find('\n', at);
    out.push_back(text.substr(at, end == std::string::npos ? std::string::npos : end - at));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return out;
}

ExportBatch read_batch(const std::vector<RedisReply>& fields, bool with_events) {
  ExportBatch b;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    auto const& name = fields[i].text;
    auto const& value = fields[i + 1].text;
    if (name == "id") b.id = redis_integer(value);
    else if (name == "team") b.team_id = redis_integer(value);
    else if (name == "plugin") b.plugin = value;
    else if (name == "events" && with_events) b.events = lines(value);
    else if (name == "attempt") b.attempt = static_cast<int>(redis_integer(value));
    else if (name == "next_at") b.next_at_ms = redis_integer(value);
    else if (name == "error") b.last_error = value;
    else if (name == "dead") b.dead = value == "1";
    else if (name == "claim") b.claim = value;
  }
  return b;
}

}  // namespace

RedisExportQueue::RedisExportQueue(RedisPool& pool, std::string prefix, std::chrono::milliseconds handover)
    : pool_(pool), prefix_(std::move(prefix)), handover_(handover) {}

void RedisExportQueue::append(const std::vector<ExportRow>& rows, std::int64_t now_ms) {
  if (rows.empty()) return;
  std::map<std::string, std::pair<std::vector<std::string>, std::int64_t>> groups;  // owner -> elements, bytes
  auto const stamp = std::to_string(now_ms) + " ";
  for (auto const& r : rows) {
    auto& g = groups[owner(r.team_id, r.plugin)];
    g.first.push_back(stamp + r.event_json);
    g.second += static_cast<std::int64_t>(r.event_json.size());
  }
  std::vector<std::string> keys, amounts;
  for (auto const& [o, g] : groups) {
    keys.push_back(key("pending:" + o));
    amounts.push_back(std::to_string(g.second));
  }
  auto const index = key("pending-index"), bytes = key("pending-bytes");
  std::vector<RedisArgs> commands{{"MULTI"}};
  std::size_t i = 0;
  for (auto const& [o, g] : groups) {
    RedisArgs push{"RPUSH", keys[i]};
    for (auto const& e : g.first) push.emplace_back(e);
    commands.push_back(std::move(push));
    commands.push_back({"HINCRBY", bytes, o, amounts[i]});
    commands.push_back({"SADD", index, o});
    ++i;
  }
  commands.push_back({"EXEC"});
  auto const replies = pool_.with([&](RedisConnection& c) { return c.pipeline(commands); });
  replies.back().ok();  // all or nothing: MULTI/EXEC
  if (replies.back().is_nil()) throw RedisCommandError("export queue: the append transaction was aborted");
}

std::vector<PendingExports> RedisExportQueue::pending() {
  auto const members = pool_.with([&](RedisConnection& c) { return c.command({"SMEMBERS", key("pending-index")}); });
  std::vector<std::string> owners, lists;
  for (auto const& m : members.ok().elements) {
    owners.push_back(m.text);
    lists.push_back(key("pending:" + m.text));
  }
  if (owners.empty()) return {};
  std::vector<RedisArgs> reads;
  auto const bytes = key("pending-bytes");
  for (std::size_t i = 0; i < owners.size(); ++i) {
    reads.push_back({"LLEN", lists[i]});
    reads.push_back({"HGET", bytes, owners[i]});
    reads.push_back({"LINDEX", lists[i], "0"});
  }
  auto const replies = pool_.with([&](RedisConnection& c) { return c.pipeline(reads); });
  std::vector<PendingExports> out;
  for (std::size_t i = 0; i < owners.size(); ++i) {
    auto const events = replies[3 * i].integer;
    if (events <= 0) continue;
    auto const slash = owners[i].find('/');
    PendingExports p;
    p.team_id = redis_integer(owners[i].substr(0, slash));
    p.plugin = owners[i].substr(slash + 1);
    p.events = static_cast<std::uint64_t>(events);
    p.bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(redis_integer(replies[3 * i + 1].text), 0));
    auto const& head = replies[3 * i + 2].text;
    p.oldest_ms = redis_integer(head.substr(0, head.find(' ')));
    out.push_back(std::move(p));
  }
  return out;
}

std::optional<ExportBatch> RedisExportQueue::cut_batch(std::int64_t team_id, const std::string& plugin,
                                                       std::uint64_t max_bytes, std::size_t max_events,
                                                       std::int64_t now_ms) {
  auto const r = pool_.with([&](RedisConnection& c) {
    return cut_script.run(c, {}, {prefix_, owner(team_id, plugin), std::to_string(max_bytes),
                                  std::to_string(std::max<std::size_t>(max_events, 1)), std::to_string(team_id), plugin,
                                  std::to_string(now_ms)});
  });
  if (r.ok().is_nil() || r.elements.size() != 2) return std::nullopt;
  ExportBatch b;
  b.id = r.elements[0].integer;
  b.team_id = team_id;
  b.plugin = plugin;
  b.events = lines(r.elements[1].text);
  b.next_at_ms = now_ms;
  return b;
}

std::vector<ExportBatch> RedisExportQueue::due(std::int64_t now_ms, std::size_t limit) {
  auto const r = pool_.with([&](RedisConnection& c) {
    return due_script.run(c, {}, {prefix_, std::to_string(now_ms), std::to_string(limit),
                                  std::to_string(handover_.count())});
  });
  std::vector<ExportBatch> out;
  for (auto const& fields : r.ok().elements) out.push_back(read_batch(fields.elements, true));
  return out;
}

void RedisExportQueue::delivered(std::int64_t batch_id, std::string_view claim) {
  pool_.with([&](RedisConnection& c) {
    return delivered_script.run(c, {}, {prefix_, std::to_string(batch_id), std::string(claim)}).ok();
  });
}

void RedisExportQueue::retry_later(std::int64_t batch_id, int attempt, std::int64_t next_at_ms,
                                   const std::string& error, std::string_view claim) {
  pool_.with([&](RedisConnection& c) {
    return retry_script
        .run(c, {}, {prefix_, std::to_string(batch_id), std::to_string(attempt), std::to_string(next_at_ms), error,
                     std::string(claim)})
        .ok();
  });
}

void RedisExportQueue::dead_letter(std::int64_t batch_id, int attempt, const std::string& error,
                                   std::string_view claim) {
  pool_.with([&](RedisConnection& c) {
    return dead_script.run(c, {}, {prefix_, std::to_string(batch_id), std::to_string(attempt), error, std::string(claim)})
        .ok();
  });
}

std::vector<ExportBatch> RedisExportQueue::dead_letters(std::int64_t team_id, const std::string& plugin,
                                                        std::size_t limit) {
  auto const ids =
      pool_.with([&](RedisConnection& c) { return c.command({"SMEMBERS", key("of:" + owner(team_id, plugin))}); });
  std::vector<std::string> batch_keys;
  for (auto const& id : ids.ok().elements) batch_keys.push_back(key("batch:" + id.text));
  std::vector<RedisArgs> reads;
  for (auto const& k : batch_keys)
    reads.push_back({"HMGET", k, "team", "plugin", "attempt", "next_at", "error", "dead", "count"});
  std::vector<ExportBatch> out;
  if (reads.empty()) return out;
  auto const replies = pool_.with([&](RedisConnection& c) { return c.pipeline(reads); });
  for (std::size_t i = 0; i < replies.size(); ++i) {
    auto const& v = replies[i].elements;
    if (v.size() != 7 || v[5].text != "1") continue;
    ExportBatch b;
    b.id = redis_integer(ids.elements[i].text);
    b.team_id = redis_integer(v[0].text);
    b.plugin = v[1].text;
    b.attempt = static_cast<int>(redis_integer(v[2].text));
    b.next_at_ms = redis_integer(v[3].text);
    b.last_error = v[4].text;
    b.dead = true;
    b.events.resize(static_cast<std::size_t>(redis_integer(v[6].text)));  // the count; the events stay in Redis
    out.push_back(std::move(b));
  }
  std::sort(out.begin(), out.end(), [](const ExportBatch& a, const ExportBatch& b) { return a.id < b.id; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

bool RedisExportQueue::replay(std::int64_t batch_id, std::int64_t now_ms) {
  auto const r = pool_.with([&](RedisConnection& c) {
    return replay_script.run(c, {}, {prefix_, std::to_string(batch_id), std::to_string(now_ms)});
  });
  return r.ok().integer == 1;
}

ExportCounts RedisExportQueue::counts(std::int64_t team_id, const std::string& plugin) {
  auto const o = owner(team_id, plugin);
  auto const replies = pool_.with([&](RedisConnection& c) {
    return c.pipeline({{"LLEN", key("pending:" + o)}, {"HGET", key("pending-bytes"), o}, {"SMEMBERS", key("of:" + o)}});
  });
  ExportCounts counts;
  counts.pending_events = static_cast<std::uint64_t>(replies[0].ok().integer);
  counts.pending_bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(redis_integer(replies[1].text), 0));
  std::vector<std::string> batch_keys;
  for (auto const& id : replies[2].ok().elements) batch_keys.push_back(key("batch:" + id.text));
  std::vector<RedisArgs> reads;
  for (auto const& k : batch_keys) reads.push_back({"HGET", k, "dead"});
  if (reads.empty()) return counts;
  for (auto const& d : pool_.with([&](RedisConnection& c) { return c.pipeline(reads); })) {
    if (d.is_nil()) continue;  // delivered meanwhile
    ++(d.text == "1" ? counts.dead_batches : counts.retrying_batches);
  }
  return counts;
}

ExportCounts RedisExportQueue::totals() {
  ExportCounts totals;
  for (auto const& p : pending()) {
    totals.pending_events += p.events;
    totals.pending_bytes += p.bytes;
  }
  auto const replies = pool_.with([&](RedisConnection& c) {
    return c.pipeline({{"ZCARD", key("due")}, {"ZCARD", key("dead")}});
  });
  totals.retrying_batches = static_cast<std::uint64_t>(replies[0].ok().integer);
  totals.dead_batches = static_cast<std::uint64_t>(replies[1].ok().integer);
  return totals;
}

}  // namespace posthog::server
