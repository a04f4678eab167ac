// The job tests' fixture: testkit.so loaded by the real loader into a chain set
// for two teams, the job queue and schedule lock in a real SQLite file or (the
// "redis" backend) in a real redis-server started for the test, and a clock the
// test moves (nothing here sleeps). Tests that hold for both backends run on
// each: GENERATE(backends()).
#pragma once

#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <filesystem>
#include <optional>
#include <unistd.h>

#include "config/server_config.hpp"
#include "stores/job_queue.hpp"
#include "jobs/job_runner.hpp"
#include "stores/schedule_lock.hpp"
#include "jobs/scheduler.hpp"
#include "stores/store_job_queue.hpp"
#include "stores/redis/redis_job_queue.hpp"
#include "stores/redis/redis_pool.hpp"
#include "stores/redis/redis_schedule_lock.hpp"
#include "../support/redis_server.hpp"
#include "loader/plugin_module.hpp"
#include "generations/chain_set.hpp"
#include "generations/live_chains.hpp"
#include "stores/durable_store.hpp"
#include "../support/memory_services.hpp"

namespace posthog::testing {

// For GENERATE: each backend of the job queue and schedule lock.
inline auto backends() { return Catch::Generators::values<std::string>({"store", "redis"}); }

struct JobsFixture : MemoryServices {
  std::filesystem::path dir;
  server::ModuleRegistry modules{posthog::server::host_api()};
  std::vector<server::LoadError> refusals;
  server::LiveChains live;
  std::int64_t now = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
  std::optional<server::DurableStore> store;
  std::string backend;
  std::unique_ptr<RedisServer> redis;
  std::unique_ptr<server::RedisPool> pool;
  static constexpr std::chrono::milliseconds visibility{60'000};  // of a claimed job, with Redis
  std::unique_ptr<server::JobQueue> queue;
  std::optional<server::JobRunner> runner;
  std::unique_ptr<server::ScheduleLock> lock;
  std::optional<server::Scheduler> scheduler;
  server::JobPolicy policy;

  explicit JobsFixture(std::string_view name, server::JobPolicy p = {}, std::string backend_name = "store")
      : dir(std::filesystem::temp_directory_path() /
            ("posthog-" + std::string(name) + "-" + std::to_string(::getpid()))),
        backend(std::move(backend_name)),
        policy(p) {
    if (backend == "redis") {
      redis = std::make_unique<RedisServer>();
      pool = std::make_unique<server::RedisPool>(redis->endpoint(), 2, std::chrono::milliseconds(2'000));
    }
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    policy.jitter = 0;  // the schedule exactly
    auto const teams = R"([
        {"id": 1, "token": "phc_one", "plugins": [{"name": "testkit", "config": {"label": "one"}}]},
        {"id": 2, "token": "phc_two", "plugins": [{"name": "testkit", "config": {"label": "two"}}]}])";
    auto config = server::ServerConfig::parse(
        R"({"plugins": [{"name": "testkit", "file": ")" + std::string(POSTHOG_TEST_MODULES_DIR) +
            R"(/testkit.so"}], "teams": )" + teams + "}",
        ".");
    host.jobs = nullptr;  // set in open(): the scopes read it at each call
    live.publish(server::ChainSet::build(config, modules, host, refusals));
    REQUIRE(refusals.empty());
    open();
  }
  ~JobsFixture() {
    close();
    std::filesystem::remove_all(dir);
  }
  void open() {
    store.emplace(dir / "store.db");
    if (pool) queue = std::make_unique<server::RedisJobQueue>(*pool, "test:", visibility);
    else queue = std::make_unique<server::StoreJobQueue>(*store);
    runner.emplace(*queue, live, log, policy, [this] { return now; });
    host.jobs = &*runner;
    lock = make_lock();
    scheduler.emplace(*queue, live, *lock, log, [this] { return now; });
  }
  // Another server's view of the same schedule lock.
  std::unique_ptr<server::ScheduleLock> make_lock() {
    if (pool) return std::make_unique<server::RedisScheduleLock>(*pool, "test:", std::chrono::seconds(30));
    return std::make_unique<server::StoreScheduleLock>(*store);
  }
  void close() {
    scheduler.reset();
    lock.reset();
    host.jobs = nullptr;
    runner.reset();
    queue.reset();
    store.reset();
  }
  void restart() {
    close();
    open();
  }

  // Queues a job as meta.jobs would (run_at 0: now).
  void job(std::int64_t team, std::string_view name, boost::json::value payload, std::int64_t run_at_ms = 0) {
    runner->enqueue(team, "testkit", name, boost::json::serialize(payload), run_at_ms);
  }
  // Log lines of (team, testkit) starting with `prefix`.
  std::vector<std::string> logged(std::int64_t team, std::string_view prefix) const {
    std::vector<std::string> out;
    for (auto const& l : log.lines(team, "testkit"))
      if (l.message.rfind(prefix, 0) == 0) out.push_back(l.message);
    return out;
  }
  server::JobTally tally(std::int64_t team) const {
    auto const all = runner->tallies();
    auto it = all.find({team, "testkit"});
    return it == all.end() ? server::JobTally{} : it->second;
  }
};

}  // namespace posthog::testing
