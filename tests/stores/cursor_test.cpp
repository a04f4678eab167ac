// utils.cursor as PostHog had it (src/worker/vm/extensions/utilities.ts, on
// posthog_pluginstorage): init sets a value unless one is set, increment adds
// and returns the new value, atomically, on the storage's own keys. Driven
// through the real host API (PluginScope) with the SDK's Cursor, on every
// storage backend: memory, the embedded SQLite store, Redis.
#include <catch2/catch.hpp>

#include <posthog/meta.hpp>

#include <filesystem>
#include <set>
#include <thread>
#include <unistd.h>

#include "host/plugin_scope.hpp"
#include "stores/durable_store.hpp"
#include "stores/memory_cache.hpp"
#include "common/plugin_log.hpp"
#include "stores/plugin_storage.hpp"
#include "stores/redis/redis_cache.hpp"
#include "../support/redis_server.hpp"

namespace cursor_test {

using namespace posthog::server;
using Catch::Generators::values;
namespace fs = std::filesystem;

TEST_CASE("utils.cursor is atomic under concurrent calls, on every storage backend", "[stores][cursor]") {
  auto const backend = GENERATE(values<std::string>({"memory", "store", "redis"}));
  CAPTURE(backend);
  fs::path const dir = fs::temp_directory_path() / ("posthog-cursor-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::unique_ptr<PluginStorage> storage;
  std::unique_ptr<DurableStore> store;
  std::unique_ptr<posthog::testing::RedisServer> redis;
  std::unique_ptr<RedisPool> pool;
  if (backend == "memory") {
    storage = std::make_unique<MemoryStorage>();
  } else if (backend == "store") {
    store = std::make_unique<DurableStore>(dir / "store.db");
    storage = std::make_unique<DurableStorage>(*store);
  } else {
    redis = std::make_unique<posthog::testing::RedisServer>();
    pool = std::make_unique<RedisPool>(redis->endpoint(), 4, std::chrono::milliseconds(2'000));
    storage = std::make_unique<RedisStorage>(*pool, "test:");
  }
  MemoryCache cache;
  PluginLog log;
  HostServices services{&cache, storage.get(), &log};
  PluginScope scope(3, "counter", services), other_team(4, "counter", services);
  posthog::Config config;
  posthog::Global global;
  auto const scoped = scope.meta(), other_scoped = other_team.meta();
  posthog::Meta meta(&scoped, config, global), other(&other_scoped, config, global);

  meta.utils.cursor.init("c", 0);
  meta.utils.cursor.init("c", 500);  // set already: unchanged
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::vector<std::int64_t> seen;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      posthog::Meta mine(&scoped, config, global);
      for (int i = 0; i < 250; ++i) {
        auto const v = mine.utils.cursor.increment("c");
        std::lock_guard lock(mutex);
        seen.push_back(v);
      }
    });
  for (auto& t : threads) t.join();
  std::set<std::int64_t> const unique(seen.begin(), seen.end());
  CHECK(unique.size() == 1000);  // no two callers got the same value
  CHECK(*unique.begin() == 1);
  CHECK(*unique.rbegin() == 1000);
  CHECK(meta.storage.get("c")->as_int64() == 1000);  // the storage's own key, as in PostHog
  CHECK(meta.utils.cursor.increment("c", 5) == 1005);
  CHECK(meta.utils.cursor.increment("fresh", 7) == 7);  // unset counts from 0

  CHECK_FALSE(other.storage.get("c").has_value());  // team 4 sees nothing of team 3's
  CHECK(other.utils.cursor.increment("c") == 1);

  meta.storage.set("text", "not a number");
  CHECK_THROWS_AS(meta.utils.cursor.increment("text"), std::runtime_error);
  bool reported = false;
  for (auto const& l : log.lines(3, "counter")) reported = reported || l.message.find("utils.cursor.increment failed") == 0;
  CHECK(reported);

  store.reset();
  fs::remove_all(dir);
}

}  // namespace cursor_test
