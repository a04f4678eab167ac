#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "stores/memory_cache.hpp"

namespace memory_cache_test {

using posthog::server::MemoryCache;
using namespace std::chrono_literals;

namespace {
struct FakeClock {
  MemoryCache::Clock::time_point now{};
  auto function() {
    return [this] { return now; };
  }
};
}  // namespace

TEST_CASE("MemoryCache expires entries by TTL on the injected clock", "[stores][cache]") {
  FakeClock clock;
  MemoryCache cache(0, clock.function());
  cache.set("k", "\"v\"", 10s);
  cache.set("forever", "1", 0s);
  clock.now += 9s;
  CHECK(cache.get("k") == std::optional<std::string>("\"v\""));
  clock.now += 1s;
  CHECK_FALSE(cache.get("k").has_value());
  CHECK(cache.get("forever").has_value());
  CHECK(cache.expire("forever", 5s));
  CHECK_FALSE(cache.expire("missing", 5s));
  clock.now += 5s;
  CHECK_FALSE(cache.get("forever").has_value());
}

TEST_CASE("MemoryCache incr is atomic across threads and refuses non-integers", "[stores][cache]") {
  MemoryCache cache;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) cache.incr("n", 1);
    });
  for (auto& t : threads) t.join();
  CHECK(cache.get("n") == std::optional<std::string>("4000"));
  cache.set("s", "\"text\"", 0s);
  CHECK_THROWS_AS(cache.incr("s", 1), std::invalid_argument);
}

TEST_CASE("MemoryCache lists: push to the front, ranges, removal, cap", "[stores][cache]") {
  MemoryCache cache;
  cache.lpush("l", "1");
  cache.lpush("l", "2");
  cache.lpush("l", "1");
  CHECK(cache.lrange("l", 0, -1) == std::vector<std::string>{"1", "2", "1"});
  CHECK(cache.lrange("l", -2, -1) == std::vector<std::string>{"2", "1"});
  CHECK(cache.lrem("l", -1, "1") == 1);
  CHECK(cache.lrange("l", 0, -1) == std::vector<std::string>{"1", "2"});
  CHECK(cache.lpop("l", 1) == std::vector<std::string>{"1"});
  for (int i = 0; i < 1500; ++i) cache.lpush("big", std::to_string(i));
  CHECK(cache.llen("big") == MemoryCache::max_list_length);
  cache.set("plain", "1", 0s);
  CHECK_THROWS_AS(cache.lpush("plain", "2"), std::invalid_argument);
}

TEST_CASE("MemoryCache purge removes only expired entries", "[stores][cache]") {
  FakeClock clock;
  MemoryCache cache(0, clock.function());
  for (int i = 0; i < 100; ++i) cache.set("k" + std::to_string(i), "1", i % 2 ? 5s : 0s);
  clock.now += 6s;
  CHECK(cache.purge_expired() == 50);
  CHECK(cache.size() == 50);
}

TEST_CASE("The cache stays within its memory bound, counting what it evicted", "[stores][cache]") {
  constexpr std::size_t bound = 1 << 20;
  MemoryCache cache(bound);
  std::string const value(500, 'x');
  for (int i = 0; i < 20000; ++i) cache.set("@plugin/p/1/key" + std::to_string(i), value, std::chrono::seconds(0));
  CHECK(cache.bytes() <= bound);
  CHECK(cache.evictions() > 0);
  CHECK(cache.size() < 20000);
  // The entry just written is never the one evicted.
  cache.set("@plugin/p/1/last", "\"kept\"", std::chrono::seconds(0));
  CHECK(cache.get("@plugin/p/1/last") == std::optional<std::string>("\"kept\""));
  // Lists count too, and shrinking them gives the room back.
  for (int i = 0; i < 50; ++i) cache.lpush("@plugin/p/1/list", value);
  CHECK(cache.bytes() <= bound);
  CHECK(cache.llen("@plugin/p/1/list") == 50);
  auto const before = cache.bytes();
  cache.lpop("@plugin/p/1/list", 10);
  CHECK(before - cache.bytes() >= 10 * value.size());
  // One entry may not take more than its shard's share of the bound.
  CHECK_THROWS_WITH(cache.set("@plugin/p/1/huge", std::string(bound / 16, 'x'), std::chrono::seconds(0)),
                    Catch::Contains("at most"));
  for (int i = 0; i < 10; ++i) cache.lpush("@plugin/p/1/list", value);
  CHECK_THROWS_AS([&] { for (int i = 0; i < 100; ++i) cache.lpush("@plugin/p/1/list", value); }(), std::length_error);
  CHECK(cache.bytes() <= bound);
}

TEST_CASE("Byte accounting returns to zero when everything is gone", "[stores][cache]") {
  MemoryCache cache(64 << 20);
  cache.set("a", "\"1\"", std::chrono::seconds(0));
  cache.incr("n", 5);
  cache.incr("n", 12345678);
  cache.lpush("l", "\"x\"");
  cache.lpush("l", "\"y\"");
  cache.lrem("l", 0, "\"x\"");
  cache.set("l", "\"now a value\"", std::chrono::seconds(0));
  CHECK(cache.bytes() > 0);
  cache.del("a");
  cache.del("n");
  cache.expire("l", std::chrono::seconds(0));
  CHECK(cache.bytes() == 0);
  CHECK(cache.size() == 0);
}

}  // namespace memory_cache_test
