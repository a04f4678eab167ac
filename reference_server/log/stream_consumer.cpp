#include "stream_consumer.hpp"

#include <algorithm>
#include <charconv>
#include <random>

#include "stores/redis/redis_pool.hpp"
#include "stores/redis/redis_script.hpp"

namespace posthog::server {

namespace {

constexpr const char* group = "workers";

// KEYS[1]: the live workers (sorted set); KEYS[2..]: the partitions' leases.
// ARGV: this worker's id, the lease in ms, where its search for free
// partitions starts. Returns {fair share, {partitions held now}}.
RedisScript const keep_leases_script(R"lua(
local me, lease, start = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, me)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - lease)
local n = #KEYS - 1
local share = math.ceil(n / redis.call('ZCARD', KEYS[1]))
local held = {}
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == me then
    redis.call('PEXPIRE', KEYS[i], lease)
    held[#held + 1] = i - 2
  end
end
for j = 0, n - 1 do
  if #held >= share then break end
  local i = (start + j) % n + 2
  if redis.call('SET', KEYS[i], me, 'NX', 'PX', lease) then held[#held + 1] = i - 2 end
end
return {share, held}
)lua");

// An entry not written by a capture server of ours has no record, or one
// that does not decode: the worker skips it (counted) and acknowledges it,
// instead of stalling the partition.
std::optional<StreamEntry> read_entry(const RedisReply& r) {
  if (r.type != RedisReply::Type::array || r.elements.size() != 2) return std::nullopt;  // deleted meanwhile
  StreamEntry e;
  e.id = r.elements[0].text;
  auto const& fields = r.elements[1].elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
    if (fields[i].text == "r") e.record = fields[i + 1].text;
  return e;
}

}  // namespace

StreamConsumer::StreamConsumer(RedisPool& pool, std::string prefix, StreamLayout layout, ConsumerPolicy policy,
                               std::string consumer_id, Deliver deliver, Report report)
    : pool_(pool),
      reader_(pool.endpoint(), policy.block + std::chrono::milliseconds(2'000)),
      prefix_(std::move(prefix)),
      layout_(layout),
      policy_(policy),
      id_(std::move(consumer_id)),
      deliver_(std::move(deliver)),
      report_(std::move(report)) {}

StreamConsumer::~StreamConsumer() {
  stop_reading();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (lease_thread_.joinable()) lease_thread_.join();
}

void StreamConsumer::start(std::function<bool()> may_read) {
  may_read_ = std::move(may_read);
  lease_thread_ = std::thread([this] { lease_loop(); });
  reader_thread_ = std::thread([this] { read_loop(); });
}

void StreamConsumer::stop_reading() {
  {
    std::lock_guard lock(mutex_);
    stop_reading_ = true;
  }
  wake_.notify_all();
  if (reader_thread_.joinable()) reader_thread_.join();
}

void StreamConsumer::finish(std::chrono::milliseconds patience) {
  stop_reading();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (lease_thread_.joinable()) lease_thread_.join();
  auto const deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    try {
      if (flush_acknowledgements()) break;
    } catch (const RedisUnavailable&) {  // kept; tried again until the deadline
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::vector<std::size_t> held;
  bool unacknowledged = false;
  {
    std::lock_guard lock(mutex_);
    for (auto const& [p, h] : held_) held.push_back(p);
    unacknowledged = !to_acknowledge_.empty();
  }
  if (unacknowledged)
    report_("stream_error", "Redis did not take the last acknowledgements; their entries will run again "
                            "on the worker that takes the partitions over");
  try {
    for (auto p : held) release(p);
    pool_.with([&](RedisConnection& c) { return c.command({"ZREM", prefix_ + "workers", id_}); });
  } catch (const RedisUnavailable& e) {
    report_("stream_error", std::string("leases not given back (they run out by themselves): ") + e.what());
  }
}

void StreamConsumer::acknowledge(std::size_t partition, std::vector<std::string> ids) {
  std::lock_guard lock(mutex_);
  auto& waiting = to_acknowledge_[partition];
  if (waiting.empty()) waiting = std::move(ids);
  else waiting.insert(waiting.end(), std::make_move_iterator(ids.begin()), std::make_move_iterator(ids.end()));
  wake_.notify_all();
}

void StreamConsumer::run_again(std::size_t partition, const std::vector<std::string>& ids) {
  std::lock_guard lock(mutex_);
  if (auto it = in_hand_.find(partition); it != in_hand_.end()) {
    for (auto const& id : ids) it->second.erase(id);
    if (it->second.empty()) in_hand_.erase(it);
  }
  if (auto it = held_.find(partition); it != held_.end()) it->second.claimed = false;  // XAUTOCLAIM brings them back
  wake_.notify_all();
}

ConsumerStatus StreamConsumer::status() {
  std::lock_guard lock(mutex_);
  ConsumerStatus s;
  for (auto const& [p, h] : held_) s.partitions.push_back(p);
  s.entries_read = read_;
  s.entries_claimed = claimed_;
  s.entries_acknowledged = acknowledged_;
  for (auto const& [p, ids] : to_acknowledge_) s.acknowledgements_waiting += ids.size();
  s.reachable = !down_;
  return s;
}

// Reports are written outside mutex_: writing one may block (a full stderr
// pipe), and the workers' acknowledge() must not wait for that.
void StreamConsumer::went_down(const std::string& why) {
  {
    std::lock_guard lock(mutex_);
    if (down_) return;
    down_ = true;
  }
  report_("stream_paused", "reading events paused: " + why);
}

void StreamConsumer::came_back() {
  {
    std::lock_guard lock(mutex_);
    if (!down_) return;
    down_ = false;
  }
  report_("stream_resumed", "Redis answers again: reading events resumed");
}

void StreamConsumer::lease_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      keep_leases();
      came_back();
    } catch (const RedisUnavailable& e) {
      went_down(e.what());
    } catch (const std::exception& e) {
      report_("stream_error", std::string("keeping the partition leases: ") + e.what());
    }
    lock.lock();
    // A third of the lease keeps it; at least once a second, so that a worker
    // that joins gets its share within a couple of seconds, whatever the lease.
    wake_.wait_for(lock, std::min<std::chrono::milliseconds>(policy_.lease / 3, std::chrono::seconds(1)),
                   [this] { return stopping_; });
  }
}

void StreamConsumer::keep_leases() {
  std::vector<std::string> keys{prefix_ + "workers"};
  for (std::size_t p = 0; p < layout_.partitions; ++p) keys.push_back(prefix_ + "lease:" + std::to_string(p));
  static thread_local std::mt19937 random{std::random_device{}()};
  auto const start = std::to_string(random() % std::max<std::size_t>(layout_.partitions, 1));
  std::uint64_t releases_before = 0;
  {
    std::lock_guard lock(mutex_);
    releases_before = releases_;
  }
  auto const reply =
      pool_.with([&](RedisConnection& c) { return keep_leases_script.run(c, keys, {id_, std::to_string(policy_.lease.count()), start}); });
  auto const& r = reply.ok();
  if (r.elements.size() != 2) throw RedisCommandError("the lease script answered something unexpected");
  auto const share = static_cast<std::size_t>(r.elements[0].integer);
  std::vector<std::size_t> now_held;
  for (auto const& e : r.elements[1].elements) now_held.push_back(static_cast<std::size_t>(e.integer));

  std::string message;
  std::unique_lock lock(mutex_);
  // A lease given back while the script ran may be in its answer as ours
  // (renewed before the DEL, or taken again after it): trust only the losses
  // this time; the next pass, a second later, sees the truth.
  bool const trust_gains = releases_ == releases_before;
  bool changed = false;
  for (auto it = held_.begin(); it != held_.end();) {
    if (std::find(now_held.begin(), now_held.end(), it->first) == now_held.end()) {
      it = held_.erase(it);  // lost (we stalled past the lease): another worker has it now
      changed = true;
    } else {
      ++it;
    }
  }
  if (trust_gains)
    for (auto p : now_held) changed |= held_.try_emplace(p).second;
  std::size_t active = 0;
  for (auto& [p, h] : held_) {
    if (h.releasing) continue;
    if (++active > share) {
      h.releasing = true;
      changed = true;
    }
  }
  if (changed) {
    std::string list;
    for (auto const& [p, h] : held_)
      if (!h.releasing) list += (list.empty() ? "" : ",") + std::to_string(p);
    message = "reading partitions [" + list + "] (fair share " + std::to_string(share) + ")";
  }
  wake_.notify_all();
  lock.unlock();
  if (!message.empty()) report_("stream_partitions", message);
}

void StreamConsumer::release(std::size_t partition) {
  auto const key = prefix_ + "lease:" + std::to_string(partition);
  pool_.with([&](RedisConnection& c) { return release_if_held_script.run(c, {key}, {id_}).ok(); });
  std::lock_guard lock(mutex_);
  held_.erase(partition);
  ++releases_;
}

void StreamConsumer::deliver(std::size_t partition, std::vector<StreamEntry>&& entries, bool claimed) {
  {
    std::lock_guard lock(mutex_);
    // Claimed again (after an error, or a lease lost and taken back): what is in hand is not run twice.
    if (!entries.empty()) {
      auto& in_hand = in_hand_[partition];
      std::erase_if(entries, [&](const StreamEntry& e) { return !in_hand.insert(e.id).second; });
      if (in_hand.empty()) in_hand_.erase(partition);
    }
    (claimed ? claimed_ : read_) += entries.size();
  }
  if (!entries.empty()) deliver_(partition, std::move(entries));
}

void StreamConsumer::take_over(std::size_t partition) {
  auto const key = stream_key(prefix_, partition);
  auto const created = reader_.command({"XGROUP", "CREATE", key, group, "0", "MKSTREAM"});
  if (created.is_error() && created.text.rfind("BUSYGROUP", 0) != 0) created.ok();
  // Whatever an earlier holder read and did not acknowledge runs first, in order.
  std::string cursor = "0-0";
  auto const count = std::to_string(policy_.read_entries);
  do {
    auto const r = reader_.command({"XAUTOCLAIM", key, group, id_, "0", cursor, "COUNT", count});
    auto const& reply = r.ok();
    if (reply.elements.size() < 2) throw RedisCommandError("XAUTOCLAIM answered something unexpected");
    cursor = reply.elements[0].text;
    std::vector<StreamEntry> entries;
    for (auto const& e : reply.elements[1].elements)
      if (auto entry = read_entry(e)) entries.push_back(std::move(*entry));
    deliver(partition, std::move(entries), true);
  } while (cursor != "0-0");
  forget_idle_consumers(key);
  std::lock_guard lock(mutex_);
  if (auto it = held_.find(partition); it != held_.end()) it->second.claimed = true;
}

void StreamConsumer::forget_idle_consumers(const std::string& key) {
  // Every process start joins the group under a new name; one that left
  // nothing pending and has been silent for ten leases is gone (its entries
  // were claimed above), so the group's list of consumers does not only grow.
  auto const info = reader_.command({"XINFO", "CONSUMERS", key, group});
  if (info.is_error()) return;  // no group yet: nothing to forget
  auto const idle_limit = 10 * policy_.lease.count();
  for (auto const& consumer : info.elements) {
    std::string name;
    std::int64_t pending = -1, idle = 0;
    for (std::size_t i = 0; i + 1 < consumer.elements.size(); i += 2) {
      auto const& field = consumer.elements[i].text;
      auto const& value = consumer.elements[i + 1];
      if (field == "name") name = value.text;
      else if (field == "pending") pending = value.integer;
      else if (field == "idle") idle = value.integer;
    }
    if (name.empty() || name == id_ || pending != 0 || idle < idle_limit) continue;
    reader_.command({"XGROUP", "DELCONSUMER", key, group, name}).ok();
  }
}

void StreamConsumer::read_new(const std::vector<std::size_t>& partitions) {
  std::vector<std::string> keys;
  for (auto p : partitions) keys.push_back(stream_key(prefix_, p));
  auto const count = std::to_string(policy_.read_entries);
  auto const block = std::to_string(policy_.block.count());
  RedisArgs args{"XREADGROUP", "GROUP", group, id_, "COUNT", count, "BLOCK", block, "STREAMS"};
  for (auto const& k : keys) args.emplace_back(k);
  for (std::size_t i = 0; i < keys.size(); ++i) args.emplace_back(">");
  auto const r = reader_.command(args);
  if (r.is_error() && r.text.rfind("NOGROUP", 0) == 0) {
    // Redis lost the group (restarted without its data, or flushed): made again on the next take-over.
    {
      std::lock_guard lock(mutex_);
      for (auto& [p, h] : held_) h.claimed = false;
    }
    report_("stream_error", "the consumer group is gone from Redis (restarted empty?): made again");
    return;
  }
  for (auto const& stream : r.ok().elements) {
    if (stream.elements.size() != 2) continue;
    auto const it = std::find(keys.begin(), keys.end(), stream.elements[0].text);
    if (it == keys.end()) continue;
    std::vector<StreamEntry> entries;
    for (auto const& e : stream.elements[1].elements)
      if (auto entry = read_entry(e)) entries.push_back(std::move(*entry));
    deliver(partitions[static_cast<std::size_t>(it - keys.begin())], std::move(entries), false);
  }
}

bool StreamConsumer::flush_acknowledgements() {
  std::map<std::size_t, std::vector<std::string>> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(to_acknowledge_);
  }
  if (batch.empty()) return true;
  std::vector<std::string> keys;
  for (auto const& [p, ids] : batch) keys.push_back(stream_key(prefix_, p));
  std::vector<RedisArgs> commands;
  std::size_t k = 0;
  for (auto const& [p, ids] : batch) {
    RedisArgs ack{"XACK", keys[k], group}, del{"XDEL", keys[k]};
    for (auto const& id : ids) {
      ack.emplace_back(id);
      del.emplace_back(id);
    }
    commands.push_back(std::move(ack));
    commands.push_back(std::move(del));
    ++k;
  }
  try {
    pool_.with([&](RedisConnection& c) { return c.pipeline(commands); });
  } catch (const RedisUnavailable&) {
    std::lock_guard lock(mutex_);  // kept, sent again with the next ones
    for (auto& [p, ids] : batch) {
      auto& waiting = to_acknowledge_[p];
      waiting.insert(waiting.begin(), ids.begin(), ids.end());
    }
    throw;
  }
  std::lock_guard lock(mutex_);
  for (auto const& [p, ids] : batch) {
    acknowledged_ += ids.size();
    if (auto it = in_hand_.find(p); it != in_hand_.end()) {
      for (auto const& id : ids) it->second.erase(id);
      if (it->second.empty()) in_hand_.erase(it);
    }
  }
  return true;
}

void StreamConsumer::read_loop() {
  std::unique_lock lock(mutex_);
  while (!stop_reading_) {
    std::vector<std::size_t> to_take, to_read, to_release;
    for (auto const& [p, h] : held_) {
      if (h.releasing) {
        if (!in_hand_.count(p) && !to_acknowledge_.count(p)) to_release.push_back(p);
      } else if (!h.claimed) {
        to_take.push_back(p);
      } else {
        to_read.push_back(p);
      }
    }
    lock.unlock();
    std::chrono::milliseconds pause{0};
    try {
      flush_acknowledgements();
      for (auto p : to_release) release(p);
      for (auto p : to_take) take_over(p);
      if (to_read.empty() || !to_take.empty()) pause = std::chrono::milliseconds(to_read.empty() ? 50 : 0);
      else if (may_read_ && !may_read_()) pause = std::chrono::milliseconds(5);
      else read_new(to_read);
      came_back();
    } catch (const std::exception& e) {
      if (dynamic_cast<const RedisUnavailable*>(&e)) went_down(e.what());
      else report_("stream_error", e.what());
      pause = std::chrono::milliseconds(200);
      // A read whose answer was lost (Redis went away after sending it) left
      // entries pending under our name that we never got: take every pending
      // entry over again, skipping those in hand.
      std::lock_guard relock(mutex_);
      for (auto& [p, h] : held_) h.claimed = false;
    }
    lock.lock();
    if (pause.count() > 0) wake_.wait_for(lock, pause, [this] { return stop_reading_; });
  }
}

}  // namespace posthog::server
