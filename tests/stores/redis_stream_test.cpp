// Ingestion through Redis Streams against a real redis-server: the capture
// side's partitioning and all-or-nothing bounded append (event_stream.hpp),
// and the worker side's leases, fair shares, acknowledgements and take-over of
// a dead worker's pending entries (stream_consumer.hpp).
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "log/log_record.hpp"
#include "log/partitioner.hpp"
#include "log/event_stream.hpp"
#include "stores/redis/redis_pool.hpp"
#include "log/stream_consumer.hpp"
#include "../support/redis_server.hpp"

namespace redis_stream_test {

using namespace posthog::server;
using namespace std::chrono_literals;
using posthog::testing::RedisServer;

namespace {

constexpr const char* prefix = "test:";

template <class Done>
void eventually(Done done, const char* what) {
  for (int i = 0; i < 3000 && !done(); ++i) std::this_thread::sleep_for(10ms);
  INFO(what);
  REQUIRE(done());
}

std::vector<boost::json::object> events_of(std::initializer_list<const char*> distinct_ids, int from = 0) {
  std::vector<boost::json::object> out;
  for (auto const* id : distinct_ids) out.push_back({{"event", "e"}, {"distinct_id", id}, {"n", from++}});
  return out;
}

// A request's events as capture groups them: one record per partition.
std::vector<LogAppend> records_of(std::int64_t team, const std::vector<boost::json::object>& events,
                                  std::size_t partitions) {
  std::map<std::size_t, LogRecordWriter> writers;
  for (auto const& e : events) {
    std::string_view id;
    if (auto const* d = e.if_contains("distinct_id")) id = d->as_string();
    auto const p = partition_of(team, id, partitions);
    auto it = writers.try_emplace(p, RecordKind::formed, team, 0).first;
    it->second.add(boost::json::serialize(e));
  }
  std::vector<LogAppend> out;
  for (auto& [p, w] : writers) {
    auto const n = w.events();
    out.push_back({p, w.finish(), n});
  }
  return out;
}
bool append(EventStream& stream, std::int64_t team, const std::vector<boost::json::object>& events) {
  return stream.append(records_of(team, events, stream.layout().partitions));
}

// What a worker received: every event's "n", per partition in order, and the
// entries it holds until told to acknowledge them.
struct Received {
  std::mutex mutex;
  std::map<std::size_t, std::vector<std::int64_t>> numbers;
  std::vector<std::pair<std::size_t, std::string>> unacknowledged;
  std::size_t entries = 0;

  StreamConsumer::Deliver deliver() {
    return [this](std::size_t partition, std::vector<StreamEntry>&& entries_in) {
      std::lock_guard lock(mutex);
      for (auto const& e : entries_in) {
        ++entries;
        unacknowledged.emplace_back(partition, e.id);
        LogRecordView const record(e.record);
        auto events = record.events();
        for (RecordEvent event; events.next(event);)
          numbers[partition].push_back(boost::json::parse(event.text).at("n").as_int64());
      }
    };
  }
  void acknowledge_all(StreamConsumer& consumer) {
    std::vector<std::pair<std::size_t, std::string>> taken;
    {
      std::lock_guard lock(mutex);
      taken.swap(unacknowledged);
    }
    for (auto& [p, id] : taken) consumer.acknowledge(p, {id});
  }
  std::multiset<std::int64_t> all() {
    std::lock_guard lock(mutex);
    std::multiset<std::int64_t> out;
    for (auto const& [p, ns] : numbers) out.insert(ns.begin(), ns.end());
    return out;
  }
};

StreamConsumer::Report quiet() {
  return [](const char*, const std::string&) {};
}

std::int64_t total_length(EventStream& stream) {
  std::int64_t n = 0;
  for (auto l : stream.lengths()) n += l;
  return n;
}

ConsumerPolicy fast_leases() {
  ConsumerPolicy p;
  p.lease = 600ms;
  p.block = 50ms;
  return p;
}

}  // namespace

TEST_CASE("stream: a person's events always go to the same partition, and people spread over all", "[stores][redis][stream]") {
  // Fixed values: every capture server of a cluster, whatever its build, must agree.
  CHECK(partition_of(1, "user-1", 8) == partition_of(1, "user-1", 8));
  CHECK((partition_of(1, "user-1", 8) != partition_of(2, "user-1", 8) ||
         partition_of(1, "user-2", 8) != partition_of(2, "user-2", 8)));  // the team counts
  CHECK(partition_of(7, "", 1) == 0);
  std::map<std::size_t, int> spread;
  for (int i = 0; i < 8000; ++i) ++spread[partition_of(2, "person-" + std::to_string(i), 8)];
  REQUIRE(spread.size() == 8);
  for (auto const& [p, n] : spread) CHECK((n > 800 && n < 1200));
  CHECK(stream_key("posthog-plugin-server:", 3) == "posthog-plugin-server:events:3");
  // The FNV-1a values themselves: a change would move people between partitions across an upgrade.
  CHECK(partition_of(1, "user-1", 1024) == 459);
  CHECK(partition_of(42, "alice", 1000) == 235);
}

TEST_CASE("stream: a request's events are appended all or none, and a full stream refuses", "[stores][redis][stream]") {
  RedisServer redis;
  RedisPool pool(redis.endpoint(), 2, 1000ms);
  EventStream stream(pool, prefix, {2, 2});
  // Two people in different partitions.
  std::string a = "a", b;
  for (int i = 0; b.empty(); ++i)
    if (auto id = "b" + std::to_string(i); partition_of(1, id, 2) != partition_of(1, a, 2)) b = id;
  std::vector<boost::json::object> both{{{"distinct_id", a}, {"n", 1}}, {{"distinct_id", b}, {"n", 2}},
                                        {{"distinct_id", a}, {"n", 3}}};
  REQUIRE(append(stream, 1, both));  // one entry per partition
  CHECK(stream.lengths() == std::vector<std::int64_t>{1, 1});
  std::vector<boost::json::object> only_a{{{"distinct_id", a}, {"n", 4}}};
  REQUIRE(append(stream, 1, only_a));  // a's partition is full now
  CHECK(total_length(stream) == 3);
  CHECK_FALSE(append(stream, 1, both));  // refused whole: b's partition did not grow either
  CHECK(total_length(stream) == 3);
  std::vector<boost::json::object> only_b{{{"distinct_id", b}, {"n", 5}}};
  CHECK(append(stream, 1, only_b));
  CHECK(append(stream, 1, {}));  // nothing to append is not a refusal

  RedisConnection raw(redis.endpoint(), 1000ms);
  auto const entry = raw.command({"XRANGE", stream_key(prefix, partition_of(1, a, 2)), "-", "+", "COUNT", "1"});
  REQUIRE(entry.elements.size() == 1);
  auto const& fields = entry.elements[0].elements[1].elements;  // r: the record
  REQUIRE(fields.size() == 2);
  CHECK(fields[0].text == "r");
  LogRecordView const record(fields[1].text);
  CHECK(record.team_id() == 1);
  CHECK(record.event_count() == 2);

  redis.stop();
  CHECK_THROWS_AS(append(stream, 1, only_a), RedisUnavailable);
}

TEST_CASE("stream: a worker takes every partition, gets entries in order, and acknowledging removes them",
          "[stores][redis][stream]") {
  RedisServer redis;
  RedisPool pool(redis.endpoint(), 2, 1000ms);
  EventStream stream(pool, prefix, {4, 1000});
  for (int i = 0; i < 20; ++i) REQUIRE(append(stream, 1, events_of({"p1", "p2", "p3"}, i * 3)));
  Received got;
  StreamConsumer worker(pool, prefix, stream.layout(), fast_leases(), "worker-a", got.deliver(), quiet());
  worker.start([] { return true; });
  eventually([&] { return got.all().size() == 60; }, "all 60 events delivered");
  {
    std::lock_guard lock(got.mutex);
    for (auto const& [p, ns] : got.numbers) CHECK(std::is_sorted(ns.begin(), ns.end()));  // a partition keeps its order
  }
  CHECK(worker.status().partitions.size() == 4);
  CHECK(total_length(stream) == 60);  // read, not yet acknowledged: still there
  got.acknowledge_all(worker);
  eventually([&] { return total_length(stream) == 0; }, "acknowledged entries leave the stream");
  CHECK(worker.status().entries_acknowledged == 60);
  worker.finish(1s);
  RedisConnection raw(redis.endpoint(), 1000ms);
  CHECK(raw.command({"EXISTS", std::string(prefix) + "lease:0"}).integer == 0);  // given back at the end
}

TEST_CASE("stream: two workers split the partitions; a dead worker's partitions and pending entries move",
          "[stores][redis][stream]") {
  RedisServer redis;
  RedisPool pool(redis.endpoint(), 4, 1000ms);
  EventStream stream(pool, prefix, {4, 1000});
  Received got_a, got_b;
  auto a = std::make_unique<StreamConsumer>(pool, prefix, stream.layout(), fast_leases(), "worker-a", got_a.deliver(),
                                            quiet());
  a->start([] { return true; });
  eventually([&] { return a->status().partitions.size() == 4; }, "a alone takes all four");
  StreamConsumer b(pool, prefix, stream.layout(), fast_leases(), "worker-b", got_b.deliver(), quiet());
  b.start([] { return true; });
  eventually([&] { return a->status().partitions.size() == 2 && b.status().partitions.size() == 2; },
             "a lets two go once b is there, and b takes them");

  std::vector<std::string> people;
  for (int i = 0; i < 40; ++i) people.push_back("person-" + std::to_string(i));
  for (int i = 0; i < 40; ++i) {
    std::vector<boost::json::object> one{{{"distinct_id", people[static_cast<std::size_t>(i)]}, {"n", i}}};
    REQUIRE(append(stream, 1, one));
  }
  eventually([&] { return got_a.all().size() + got_b.all().size() == 40; }, "each event reached one of them");
  got_b.acknowledge_all(b);  // a acknowledges nothing: it dies holding its entries
  auto const held_by_a = got_a.all();
  REQUIRE_FALSE(held_by_a.empty());
  a.reset();  // stops its threads without giving anything back: as SIGKILL, its leases run out

  eventually([&] { return b.status().partitions.size() == 4; }, "b takes a's partitions once their leases run out");
  eventually([&] { return b.status().entries_claimed == held_by_a.size(); }, "and a's pending entries with them");
  auto const b_has = got_b.all();
  for (auto n : held_by_a) CHECK(b_has.count(n) == 1);
  got_b.acknowledge_all(b);
  eventually([&] { return total_length(stream) == 0; }, "nothing left in the stream");
  b.finish(1s);
}

TEST_CASE("stream: consumers long gone with nothing pending are removed from the group", "[stores][redis][stream]") {
  RedisServer redis;
  RedisPool pool(redis.endpoint(), 2, 1000ms);
  EventStream stream(pool, prefix, {1, 1000});
  RedisConnection raw(redis.endpoint(), 1000ms);
  auto const key = stream_key(prefix, 0);
  REQUIRE(raw.command({"XGROUP", "CREATE", key, "workers", "0", "MKSTREAM"}).text == "OK");
  // A worker of an earlier process: joined the group, left nothing pending.
  REQUIRE(raw.command({"XGROUP", "CREATECONSUMER", key, "workers", "gone-worker"}).integer == 1);
  auto consumers = [&] {
    std::vector<std::string> names;
    for (auto const& c : raw.command({"XINFO", "CONSUMERS", key, "workers"}).elements) names.push_back(c.elements[1].text);
    return names;
  };
  REQUIRE(consumers() == std::vector<std::string>{"gone-worker"});
  std::this_thread::sleep_for(1100ms);  // ten leases of 100 ms
  ConsumerPolicy policy;
  policy.lease = 100ms;
  policy.block = 20ms;
  Received got;
  StreamConsumer worker(pool, prefix, stream.layout(), policy, "worker-now", got.deliver(), quiet());
  worker.start([] { return true; });
  eventually([&] { return worker.status().partitions.size() == 1; }, "the worker takes the partition");
  eventually([&] {
    auto const names = consumers();
    return std::find(names.begin(), names.end(), "gone-worker") == names.end();
  }, "and forgets the one long gone");
  worker.finish(1s);
}

}  // namespace redis_stream_test
