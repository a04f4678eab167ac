#include "redis_job_queue.hpp"

#include <algorithm>
#include <chrono>
#include <tuple>

#include "common/epoch_ms.hpp"
#include "redis_pool.hpp"
#include "redis_script.hpp"

namespace posthog::server {

namespace {

// Every script takes the prefix as ARGV[1].
RedisScript const job_enqueue_script(R"lua(
local P = ARGV[1]
local id = redis.call('INCR', P .. 'jobs:next-id')
redis.call('HSET', P .. 'job:' .. id, 'team', ARGV[2], 'plugin', ARGV[3], 'name', ARGV[4], 'payload', ARGV[5],
           'run_at', ARGV[6], 'attempt', 0, 'state', 'queued', 'error', '', 'created', ARGV[7])
redis.call('ZADD', P .. 'jobs:queued', ARGV[6], id)
redis.call('SADD', P .. 'jobs:of:' .. ARGV[2] .. ':' .. ARGV[3], id)
return id
)lua");

// ARGV: prefix, name, payload, now, then (team, plugin) pairs. Returns the
// 1-based numbers of the pairs skipped because a `name` job of theirs is pending.
RedisScript const job_enqueue_unless_pending_script(R"lua(
local P, name, payload, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local skipped = {}
for i = 5, #ARGV, 2 do
  local team, plugin = ARGV[i], ARGV[i + 1]
  local of = P .. 'jobs:of:' .. team .. ':' .. plugin
  local pending = false
  for _, id in ipairs(redis.call('SMEMBERS', of)) do
    local job = redis.call('HMGET', P .. 'job:' .. id, 'name', 'state')
    if job[1] == name and (job[2] == 'queued' or job[2] == 'running') then pending = true break end
  end
  if pending then
    skipped[#skipped + 1] = (i - 3) / 2
  else
    local id = redis.call('INCR', P .. 'jobs:next-id')
    redis.call('HSET', P .. 'job:' .. id, 'team', team, 'plugin', plugin, 'name', name, 'payload', payload,
               'run_at', now, 'attempt', 0, 'state', 'queued', 'error', '', 'created', now)
    redis.call('ZADD', P .. 'jobs:queued', now, id)
    redis.call('SADD', of, id)
  end
end
return skipped
)lua");

// ARGV: prefix, now, visibility ms. Returns the job's fields and its id, or nil.
RedisScript const job_claim_script(R"lua(
local P, now = ARGV[1], tonumber(ARGV[2])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'jobs:running', '-inf', now)) do
  redis.call('ZREM', P .. 'jobs:running', id)
  redis.call('ZADD', P .. 'jobs:queued', now, id)
  redis.call('HSET', P .. 'job:' .. id, 'state', 'queued')
end
local ids = redis.call('ZRANGEBYSCORE', P .. 'jobs:queued', '-inf', now, 'LIMIT', 0, 1)
if #ids == 0 then return false end
local id = ids[1]
redis.call('ZREM', P .. 'jobs:queued', id)
redis.call('ZADD', P .. 'jobs:running', now + tonumber(ARGV[3]), id)
redis.call('HSET', P .. 'job:' .. id, 'state', 'running', 'claim', redis.call('INCR', P .. 'jobs:claims'))
local fields = redis.call('HGETALL', P .. 'job:' .. id)
fields[#fields + 1] = 'id'
fields[#fields + 1] = id
return fields
)lua");

// The last ARGV of done, retry and fail: the caller's claim token ('' for none).
// -1: the job is claimed under another token now.
RedisScript const job_done_script(R"lua(
local P, id = ARGV[1], ARGV[2]
local k = P .. 'job:' .. id
if ARGV[3] ~= '' and redis.call('HGET', k, 'claim') ~= ARGV[3] and redis.call('EXISTS', k) == 1 then return -1 end
local owner = redis.call('HMGET', k, 'team', 'plugin')
redis.call('DEL', k)
redis.call('ZREM', P .. 'jobs:queued', id)
redis.call('ZREM', P .. 'jobs:running', id)
redis.call('ZREM', P .. 'jobs:failed', id)
if owner[1] then redis.call('SREM', P .. 'jobs:of:' .. owner[1] .. ':' .. owner[2], id) end
return 1
)lua");

// ARGV: prefix, id, attempt, run_at, error, claim token.
RedisScript const job_retry_script(R"lua(
local P, id = ARGV[1], ARGV[2]
local k = P .. 'job:' .. id
if redis.call('EXISTS', k) == 0 then return 0 end
if ARGV[6] ~= '' and redis.call('HGET', k, 'claim') ~= ARGV[6] then return -1 end
redis.call('ZREM', P .. 'jobs:running', id)
redis.call('ZADD', P .. 'jobs:queued', ARGV[4], id)
redis.call('HSET', k, 'state', 'queued', 'attempt', ARGV[3], 'run_at', ARGV[4], 'error', ARGV[5])
return 1
)lua");

// ARGV: prefix, id, attempt, error, now, claim token.
RedisScript const job_fail_script(R"lua(
local P, id = ARGV[1], ARGV[2]
local k = P .. 'job:' .. id
if redis.call('EXISTS', k) == 0 then return 0 end
if ARGV[6] ~= '' and redis.call('HGET', k, 'claim') ~= ARGV[6] then return -1 end
redis.call('ZREM', P .. 'jobs:running', id)
redis.call('ZREM', P .. 'jobs:queued', id)
redis.call('ZADD', P .. 'jobs:failed', ARGV[5], id)
redis.call('HSET', k, 'state', 'failed', 'attempt', ARGV[3], 'error', ARGV[4])
return 1
)lua");

// ARGV: prefix, id, now.
RedisScript const job_replay_script(R"lua(
local P, id = ARGV[1], ARGV[2]
if redis.call('ZREM', P .. 'jobs:failed', id) == 0 then return 0 end
redis.call('ZADD', P .. 'jobs:queued', ARGV[3], id)
redis.call('HSET', P .. 'job:' .. id, 'state', 'queued', 'attempt', 0, 'run_at', ARGV[3])
return 1
)lua");

// A job from HGETALL's name/value pairs.
Job read_job(const std::vector<RedisReply>& fields) {
  Job j;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    auto const& name = fields[i].text;
    auto const& value = fields[i + 1].text;
    if (name == "id") j.id = redis_integer(value);
    else if (name == "team") j.team_id = redis_integer(value);
    else if (name == "plugin") j.plugin = value;
    else if (name == "name") j.name = value;
    else if (name == "payload") j.payload = value;
    else if (name == "run_at") j.run_at_ms = redis_integer(value);
    else if (name == "attempt") j.attempt = static_cast<int>(redis_integer(value));
    else if (name == "state") j.state = value;
    else if (name == "error") j.last_error = value;
    else if (name == "created") j.created_ms = redis_integer(value);
    else if (name == "claim") j.claim = value;
  }
  return j;
}

void check_claim(const RedisReply& r, std::int64_t id) {
  if (r.ok().integer == -1)
    throw JobClaimLost("job " + std::to_string(id) + " ran past its claim (serve.jobs.visibility_seconds) and "
                       "another server claimed it: this run's outcome is not recorded");
}

}  // namespace

RedisJobQueue::RedisJobQueue(RedisPool& pool, std::string prefix, std::chrono::milliseconds visibility)
    : pool_(pool), prefix_(std::move(prefix)), visibility_(visibility) {}

std::int64_t RedisJobQueue::enqueue(std::int64_t team_id, std::string_view plugin, std::string_view name,
                                    std::string_view payload, std::int64_t run_at_ms, std::int64_t now_ms) {
  auto const at = std::to_string(run_at_ms > 0 ? run_at_ms : now_ms);
  auto const r = pool_.with([&](RedisConnection& c) {
    return job_enqueue_script.run(c, {}, {prefix_, std::to_string(team_id), std::string(plugin), std::string(name),
                                          std::string(payload), at, std::to_string(now_ms)});
  });
  return r.ok().integer;
}

std::vector<std::pair<std::int64_t, std::string>> RedisJobQueue::enqueue_unless_pending(
    const std::vector<std::pair<std::int64_t, std::string>>& copies, std::string_view name, std::string_view payload,
    std::int64_t now_ms) {
  std::vector<std::string> args{prefix_, std::string(name), std::string(payload), std::to_string(now_ms)};
  for (auto const& [team, plugin] : copies) {
    args.push_back(std::to_string(team));
    args.push_back(plugin);
  }
  auto const r = pool_.with([&](RedisConnection& c) { return job_enqueue_unless_pending_script.run(c, {}, args); });
  std::vector<std::pair<std::int64_t, std::string>> skipped;
  for (auto const& n : r.ok().elements) {
    auto const i = static_cast<std::size_t>(n.integer);
    if (i >= 1 && i <= copies.size()) skipped.push_back(copies[i - 1]);
  }
  return skipped;
}

std::optional<Job> RedisJobQueue::claim(std::int64_t now_ms) {
  auto const r = pool_.with([&](RedisConnection& c) {
    return job_claim_script.run(c, {}, {prefix_, std::to_string(now_ms), std::to_string(visibility_.count())});
  });
  if (r.ok().is_nil()) return std::nullopt;
  return read_job(r.elements);
}

void RedisJobQueue::done(std::int64_t id, std::string_view claim) {
  check_claim(pool_.with([&](RedisConnection& c) {
    return job_done_script.run(c, {}, {prefix_, std::to_string(id), std::string(claim)});
  }), id);
}

void RedisJobQueue::retry_later(std::int64_t id, int attempt, std::int64_t run_at_ms, const std::string& error,
                                std::string_view claim) {
  check_claim(pool_.with([&](RedisConnection& c) {
    return job_retry_script.run(c, {}, {prefix_, std::to_string(id), std::to_string(attempt),
                                        std::to_string(run_at_ms), error, std::string(claim)});
  }), id);
}

void RedisJobQueue::fail(std::int64_t id, int attempt, const std::string& error, std::string_view claim) {
  check_claim(pool_.with([&](RedisConnection& c) {
    return job_fail_script.run(c, {}, {prefix_, std::to_string(id), std::to_string(attempt), error,
                                       std::to_string(epoch_ms_now()), std::string(claim)});
  }), id);
}

bool RedisJobQueue::replay(std::int64_t id, std::int64_t now_ms) {
  auto const r = pool_.with([&](RedisConnection& c) {
    return job_replay_script.run(c, {}, {prefix_, std::to_string(id), std::to_string(now_ms)});
  });
  return r.ok().integer == 1;
}

std::optional<std::int64_t> RedisJobQueue::next_due_ms() {
  // A running job whose claim runs out is due again then, too.
  auto const replies = pool_.with([&](RedisConnection& c) {
    return c.pipeline({{"ZRANGE", prefix_ + "jobs:queued", "0", "0", "WITHSCORES"},
                       {"ZRANGE", prefix_ + "jobs:running", "0", "0", "WITHSCORES"}});
  });
  std::optional<std::int64_t> next;
  for (auto const& r : replies) {
    auto const& e = r.ok().elements;
    if (e.size() == 2) {
      auto const at = static_cast<std::int64_t>(std::stod(e[1].text));
      next = next ? std::min(*next, at) : at;
    }
  }
  return next;
}

std::vector<Job> RedisJobQueue::jobs_of(std::int64_t team_id, const std::string& plugin) {
  auto const of = prefix_ + "jobs:of:" + std::to_string(team_id) + ":" + plugin;
  auto const ids = pool_.with([&](RedisConnection& c) { return c.command({"SMEMBERS", of}); });
  std::vector<RedisArgs> reads;
  std::vector<std::string> keys;
  keys.reserve(ids.ok().elements.size());
  for (auto const& id : ids.elements) keys.push_back(prefix_ + "job:" + id.text);
  for (auto const& k : keys) reads.push_back({"HGETALL", k});
  std::vector<Job> out;
  if (reads.empty()) return out;
  auto const replies = pool_.with([&](RedisConnection& c) { return c.pipeline(reads); });
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].elements.empty()) continue;  // done meanwhile
    auto job = read_job(replies[i].elements);
    job.id = redis_integer(ids.elements[i].text);
    out.push_back(std::move(job));
  }
  std::sort(out.begin(), out.end(),
            [](const Job& a, const Job& b) { return std::tie(a.run_at_ms, a.id) < std::tie(b.run_at_ms, b.id); });
  return out;
}

JobCounts RedisJobQueue::counts(std::int64_t team_id, const std::string& plugin) {
  JobCounts c;
  for (auto const& j : jobs_of(team_id, plugin)) {
    if (j.state == "queued") {
      ++c.queued;
      if (c.next_run_at_ms == 0 || j.run_at_ms < c.next_run_at_ms) c.next_run_at_ms = j.run_at_ms;
    } else if (j.state == "running") {
      ++c.running;
    } else if (j.state == "failed") {
      ++c.failed;
    }
  }
  return c;
}

JobCounts RedisJobQueue::totals() {
  auto const replies = pool_.with([&](RedisConnection& c) {
    return c.pipeline({{"ZCARD", prefix_ + "jobs:queued"},
                       {"ZCARD", prefix_ + "jobs:running"},
                       {"ZCARD", prefix_ + "jobs:failed"},
                       {"ZRANGE", prefix_ + "jobs:queued", "0", "0", "WITHSCORES"}});
  });
  JobCounts c;
  c.queued = static_cast<std::uint64_t>(replies[0].ok().integer);
  c.running = static_cast<std::uint64_t>(replies[1].ok().integer);
  c.failed = static_cast<std::uint64_t>(replies[2].ok().integer);
  if (auto const& e = replies[3].ok().elements; e.size() == 2) c.next_run_at_ms = static_cast<std::int64_t>(std::stod(e[1].text));
  return c;
}

std::vector<Job> RedisJobQueue::list(std::int64_t team_id, const std::string& plugin, std::string_view state,
                                     std::size_t limit) {
  std::vector<Job> out;
  for (auto& j : jobs_of(team_id, plugin)) {
    if (j.state != state) continue;
    if (j.payload.size() > 4096) j.payload.resize(4096);
    out.push_back(std::move(j));
    if (out.size() == limit) break;
  }
  return out;
}

}  // namespace posthog::server
