// The Redis backends of meta.cache and meta.storage against a real
// redis-server on a free loopback port, and the memory cache against the same
// contract: both backends answer every command the same way.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "stores/memory_cache.hpp"
#include "stores/redis/cluster_bus.hpp"
#include "stores/redis/redis_cache.hpp"
#include "stores/redis/redis_connection.hpp"
#include "../support/redis_server.hpp"

namespace redis_store_test {

using namespace posthog::server;
using namespace std::chrono_literals;
using posthog::testing::RedisServer;

namespace {

// PostHog's cache API (src/worker/vm/extensions/cache.ts), as both backends must answer it.
void check_cache_contract(TeamCache& cache) {
  cache.set("k", "\"v\"", 0s);
  CHECK(cache.get("k") == std::optional<std::string>("\"v\""));
  CHECK_FALSE(cache.get("missing").has_value());
  CHECK(cache.del("k"));
  CHECK_FALSE(cache.del("k"));

  CHECK(cache.incr("n", 2) == 2);
  CHECK(cache.incr("n", -5) == -3);
  CHECK(cache.get("n") == std::optional<std::string>("-3"));
  cache.set("s", "\"text\"", 0s);
  CHECK_THROWS_AS(cache.incr("s", 1), std::invalid_argument);

  CHECK_FALSE(cache.expire("missing", 5s));
  CHECK(cache.expire("s", 100s));
  CHECK(cache.get("s").has_value());
  CHECK(cache.expire("s", 0s));  // now: gone
  CHECK_FALSE(cache.get("s").has_value());

  CHECK(cache.lpush("l", "1") == 1);
  CHECK(cache.lpush("l", "2") == 2);
  CHECK(cache.lpush("l", "1") == 3);
  CHECK(cache.lrange("l", 0, -1) == std::vector<std::string>{"1", "2", "1"});
  CHECK(cache.lrange("l", -2, -1) == std::vector<std::string>{"2", "1"});
  CHECK(cache.llen("l") == 3);
  CHECK(cache.lrem("l", -1, "1") == 1);
  CHECK(cache.lrange("l", 0, -1) == std::vector<std::string>{"1", "2"});
  CHECK(cache.lpop("l", 5) == std::vector<std::string>{"1", "2"});
  CHECK(cache.lpop("l", 1).empty());
  CHECK(cache.llen("missing") == 0);

  // PostHog's lpush of an array: one step, the first pushed first.
  CHECK(cache.lpush_many("many", {"\"a\"", "\"b\"", "\"c\""}) == 3);
  CHECK(cache.lrange("many", 0, -1) == std::vector<std::string>{"\"c\"", "\"b\"", "\"a\""});
  CHECK(cache.lpush_many("many", {}) == 3);
  cache.set("value", "1", 0s);
  CHECK_THROWS_AS(cache.lpush_many("value", {"1", "2"}), std::invalid_argument);

  for (int i = 0; i < 1500; ++i) cache.lpush("big", std::to_string(i));
  CHECK(cache.llen("big") == TeamCache::max_list_length);  // capped
  CHECK(cache.lrange("big", 0, 0) == std::vector<std::string>{"1499"});

  // A value read as a list, or a list read as a value, finds nothing; pushing onto a value is an error.
  cache.set("plain", "1", 0s);
  CHECK(cache.llen("plain") == 0);
  CHECK(cache.lrange("plain", 0, -1).empty());
  CHECK(cache.lrem("plain", 0, "1") == 0);
  CHECK(cache.lpop("plain", 1).empty());
  CHECK_THROWS_AS(cache.lpush("plain", "2"), std::invalid_argument);
  CHECK_FALSE(cache.get("big").has_value());

  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) cache.incr("shared", 1);
    });
  for (auto& t : threads) t.join();
  CHECK(cache.get("shared") == std::optional<std::string>("1000"));
}

}  // namespace

TEST_CASE("Redis URLs: host, port, credentials, database; bad ones named without the password", "[stores][redis]") {
  auto e = RedisEndpoint::parse("redis://:s3cret@10.0.0.5:6380/2");
  CHECK(e.host == "10.0.0.5");
  CHECK(e.port == 6380);
  CHECK(e.password == "s3cret");
  CHECK(e.username.empty());
  CHECK(e.db == 2);
  CHECK(e.describe() == "redis://10.0.0.5:6380/2");
  e = RedisEndpoint::parse("redis://app:pw@cache.internal");
  CHECK(e.username == "app");
  CHECK(e.port == 6379);
  CHECK(RedisEndpoint::parse("redis://[::1]:7000").host == "::1");
  CHECK_THROWS_WITH(RedisEndpoint::parse("http://localhost"), Catch::Contains("redis://"));
  CHECK_THROWS_WITH(RedisEndpoint::parse("redis://:pw@host:99999"),
                    Catch::Contains("the port") && !Catch::Contains("pw"));
  CHECK_THROWS_WITH(RedisEndpoint::parse("redis://host/x"), Catch::Contains("the database"));
}

TEST_CASE("Numbers Redis keeps as text are read whole, and anything else is refused by quoting it", "[stores][redis]") {
  CHECK(redis_integer("") == 0);
  CHECK(redis_integer("1733000000000") == 1733000000000);
  CHECK(redis_integer("-7") == -7);
  CHECK_THROWS_WITH(redis_integer("12abc"), Catch::Contains("'12abc' where an integer was expected"));
  CHECK_THROWS_AS(redis_integer("99999999999999999999"), std::invalid_argument);
}

TEST_CASE("The memory cache answers PostHog's cache API", "[stores][cache]") {
  MemoryCache cache;
  check_cache_contract(cache);
}

TEST_CASE("The Redis cache answers PostHog's cache API like the memory cache", "[stores][redis]") {
  RedisServer redis;
  RedisPool pool(redis.endpoint(), 4, 1000ms);
  RedisCache cache(pool, "test:");
  check_cache_contract(cache);
}

TEST_CASE("Redis keys carry the prefix and the kind; TTLs are Redis's own", "[stores][redis]") {
  RedisServer redis;
  RedisPool pool(redis.endpoint(), 2, 1000ms);
  RedisCache cache(pool, "deploy-a:");
  RedisStorage storage(pool, "deploy-a:");
  RedisCache other_deployment(pool, "deploy-b:");
  cache.set("@plugin/geoip/1/k", "1", 30s);
  storage.set("@plugin/geoip/1/k", "2");
  other_deployment.set("@plugin/geoip/1/k", "3", 0s);
  CHECK(cache.get("@plugin/geoip/1/k") == std::optional<std::string>("1"));
  CHECK(storage.get("@plugin/geoip/1/k") == std::optional<std::string>("2"));
  CHECK(other_deployment.get("@plugin/geoip/1/k") == std::optional<std::string>("3"));
  RedisConnection raw(redis.endpoint(), 1000ms);
  auto const ttl = raw.command({"PTTL", "deploy-a:cache:@plugin/geoip/1/k"}).integer;
  CHECK(ttl > 20'000);
  CHECK(ttl <= 30'000);
  CHECK(raw.command({"PTTL", "deploy-a:storage:@plugin/geoip/1/k"}).integer == -1);  // storage never expires
  CHECK(raw.command({"PTTL", "deploy-b:cache:@plugin/geoip/1/k"}).integer == -1);
  CHECK(storage.del("@plugin/geoip/1/k"));
  CHECK_FALSE(storage.get("@plugin/geoip/1/k").has_value());
  CHECK(cache.get("@plugin/geoip/1/k").has_value());
}

TEST_CASE("Redis going away is a clear error, and the backend reconnects when it is back", "[stores][redis]") {
  RedisServer redis;
  RedisPool pool(redis.endpoint(), 1, 500ms);
  RedisCache cache(pool, "test:");
  cache.set("k", "1", 0s);
  redis.stop();
  CHECK_THROWS_AS(cache.get("k"), RedisUnavailable);
  try {
    cache.get("k");
    FAIL("still reachable?");
  } catch (const RedisUnavailable& e) {
    CHECK_THAT(e.what(), Catch::Contains(redis.endpoint().describe()));
  }
  CHECK_FALSE(pool.reachable());
  redis.start();  // empty again: nothing was saved
  bool back = false;
  for (int i = 0; i < 200 && !back; ++i) {  // the backoff (at most 5 s) decides when it tries again
    back = pool.reachable();
    if (!back) std::this_thread::sleep_for(50ms);
  }
  REQUIRE(back);
  cache.set("k", "2", 0s);
  CHECK(cache.get("k") == std::optional<std::string>("2"));
}

TEST_CASE("Redis: a password the server refuses is reported as such", "[stores][redis]") {
  RedisServer redis;
  auto endpoint = redis.endpoint();
  endpoint.password = "wrong";
  RedisPool pool(endpoint, 1, 500ms);
  RedisCache cache(pool, "test:");
  CHECK_THROWS_WITH(cache.get("k"), Catch::Contains("refused the connection's set-up"));
}

TEST_CASE("The cluster bus delivers others' messages, not its own, and resyncs when quiet", "[stores][redis][cluster]") {
  RedisServer redis;
  RedisPool pool(redis.endpoint(), 2, 1000ms);
  std::mutex mutex;
  std::vector<std::string> heard_a, heard_b, errors;
  auto report = [&](const std::string& e) {
    std::lock_guard lock(mutex);
    errors.push_back(e);
  };
  auto recorder = [&](std::vector<std::string>& into) {
    return [&](const boost::json::object& m) {
      std::lock_guard lock(mutex);
      into.push_back(std::string(m.at("type").as_string()));
    };
  };
  auto count = [&](const std::vector<std::string>& in, const char* type) {
    std::lock_guard lock(mutex);
    return std::count(in.begin(), in.end(), type);
  };
  auto wait_for = [&](auto done) {
    for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(10ms);
    return done();
  };
  ClusterBus a(pool, redis.endpoint(), "test:", report, 300ms);  // quiet for 300 ms: subscribe again, resync
  ClusterBus b(pool, redis.endpoint(), "test:", report);
  std::atomic<int> a_listening{0}, b_listening{0};
  a.start(recorder(heard_a), [&] { ++a_listening; });
  b.start(recorder(heard_b), [&] { ++b_listening; });
  REQUIRE(wait_for([&] { return a_listening > 0 && b_listening > 0; }));
  CHECK(count(heard_a, "resync") >= 1);
  a.publish({{"type", "team"}, {"id", 7}});
  REQUIRE(wait_for([&] { return count(heard_b, "team") == 1; }));
  CHECK(count(heard_a, "team") == 0);  // its own message
  REQUIRE(wait_for([&] { return count(heard_a, "resync") >= 3; }));  // quiet channel: periodic resyncs
  CHECK(count(heard_b, "resync") == 1);
  b.stop();  // blocked in a read: interrupted at once
  a.stop();
  std::lock_guard lock(mutex);
  CHECK(errors.empty());
}

}  // namespace redis_store_test
