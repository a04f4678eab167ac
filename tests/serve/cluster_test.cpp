// Scale-out through Redis with real server processes: capture servers and
// worker servers joined by the event stream, backpressure when the stream is
// full, and a cluster of three under load losing one server to SIGKILL and
// Redis to a restart without losing an acknowledged event, while
// run_every_minute keeps running once a period across the cluster.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "serve_process.hpp"
#include "../support/redis_server.hpp"

namespace cluster_test {

using posthog::testing::RedisServer;
using posthog::testing::ServeProcess;
using posthog::testing::wait_until;
using namespace std::chrono_literals;

namespace {

boost::json::object cluster_config(boost::json::object serve = {}) {
  auto team = [](int id, const char* token) {
    return boost::json::object{{"id", id}, {"token", token},
                               {"plugins", {boost::json::object{{"name", "testkit"}, {"config", {{"label", "t"}}}}}}};
  };
  return {{"plugins", {posthog::testing::testkit_plugin()}},
          {"teams", {team(1, "phc_one"), team(2, "phc_two")}},
          {"serve", std::move(serve)}};
}

httplib::Result post_batch(const ServeProcess& s, int first, int count) {
  boost::json::array batch;
  for (int n = first; n < first + count; ++n)
    batch.push_back({{"event", "load"}, {"distinct_id", "person-" + std::to_string(n % 50)}, {"properties", {{"n", n}}}});
  httplib::Client c("127.0.0.1", s.port());
  c.set_connection_timeout(2s);
  c.set_read_timeout(5s);
  return c.Post("/batch/", boost::json::serialize(boost::json::object{{"api_key", "phc_one"}, {"batch", batch}}),
                "application/json");
}

// The `n` of every event in these sinks, with how often each was written.
std::map<std::int64_t, int> written(std::initializer_list<const ServeProcess*> servers) {
  std::map<std::int64_t, int> out;
  for (auto const* s : servers)
    for (auto const& e : s->sink_events())
      if (auto const* n = e.at("properties").as_object().if_contains("n")) ++out[n->as_int64()];
  return out;
}

}  // namespace

TEST_CASE("cluster: a capture server appends to the stream, a worker server runs it into its sink",
          "[serve][redis][cluster]") {
  RedisServer redis;
  ServeProcess worker(cluster_config(), {"REDIS_URL=" + redis.url(), "POSTHOG_ROLE=worker"});
  ServeProcess capture(cluster_config(), {"REDIS_URL=" + redis.url(), "POSTHOG_ROLE=capture"});

  auto refused = post_batch(worker, 0, 1);
  REQUIRE(refused);
  CHECK(refused->status == 404);
  CHECK(boost::json::parse(refused->body).at("code") == "not_capturing");

  auto taken = post_batch(capture, 0, 30);
  REQUIRE(taken);
  CHECK(taken->status == 200);
  wait_until([&] { return written({&worker}).size() == 30; }, "the worker wrote all 30 events");
  CHECK(capture.sink_events().empty());  // the capture server runs no chain
  for (auto const& [n, times] : written({&worker})) CHECK(times == 1);

  httplib::Client c("127.0.0.1", worker.port());
  auto ready = c.Get("/_ready");
  REQUIRE(ready);
  auto const r = boost::json::parse(ready->body);
  CHECK(r.at("role") == "worker");
  CHECK(r.at("stream").at("partitions").as_array().size() == 8);  // alone: all of them
  CHECK(capture.stop() == 0);
  CHECK(worker.stop() == 0);
}

TEST_CASE("cluster: a full stream answers 503 with Retry-After and takes nothing", "[serve][redis][cluster]") {
  RedisServer redis;
  boost::json::object serve{{"redis", {{"stream", {{"partitions", 1}, {"max_entries", 2}}}}}};
  ServeProcess capture(cluster_config(serve), {"REDIS_URL=" + redis.url(), "POSTHOG_ROLE=capture"});  // no worker
  for (int i = 0; i < 2; ++i) {
    auto r = post_batch(capture, i * 10, 10);
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  auto full = post_batch(capture, 20, 10);
  REQUIRE(full);
  CHECK(full->status == 503);
  CHECK(full->get_header_value("Retry-After") == "5");
  posthog::server::RedisConnection raw(redis.endpoint(), 1000ms);
  CHECK(raw.command({"XLEN", "posthog-plugin-server:events:0"}).integer == 2);
  CHECK(capture.stop() == 0);
}

TEST_CASE("cluster: three servers under load lose one to SIGKILL and Redis to a restart, and no acknowledged event",
          "[serve][redis][cluster]") {
  RedisServer redis(true);  // an append-only file, fsynced per write: a restart keeps the stream
  // Leases of a second, so the dead server's partitions move fast; schedules
  // thirty times faster, so that a minute passes every two seconds.
  boost::json::object serve{{"redis", {{"stream", {{"lease_ms", 1000}}}}}, {"jobs", {{"clock_speed", 30}}}};
  std::vector<std::string> env{"REDIS_URL=" + redis.url()};
  ServeProcess a(cluster_config(serve), env), b(cluster_config(serve), env), c(cluster_config(serve), env);

  // Observed in the middle of a two-second "minute", when its runs are over.
  auto mid_period = [] {
    auto const ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
    std::this_thread::sleep_for(std::chrono::milliseconds((3000 - ms % 2000) % 2000));
  };
  auto schedule = [&] {
    posthog::server::RedisConnection raw(redis.endpoint(), 2000ms);  // a new one: Redis restarts in between
    auto const period = raw.command({"GET", "posthog-plugin-server:schedule:run_every_minute"});
    auto const runs = raw.command({"GET", "posthog-plugin-server:cache:@plugin/testkit/1/minute_runs"});
    return std::pair<std::int64_t, std::int64_t>{period.is_nil() ? 0 : std::stoll(period.text),
                                                  runs.is_nil() ? 0 : std::stoll(runs.text)};
  };
  // Each takes its share of the stream's partitions (c's will move when it dies).
  auto partitions_held = [](const ServeProcess& s) -> std::size_t {
    httplib::Client client("127.0.0.1", s.port());
    auto r = client.Get("/_ready");
    if (!r) return 0;
    auto const body = boost::json::parse(r->body);  // also when not ready
    auto const* stream = body.as_object().if_contains("stream");
    return stream ? stream->at("partitions").as_array().size() : 0;
  };
  for (int i = 0; i < 3000 && !(partitions_held(a) > 0 && partitions_held(b) > 0 && partitions_held(c) > 0); ++i)
    std::this_thread::sleep_for(10ms);
  INFO(a.stderr_text() << b.stderr_text() << c.stderr_text());
  REQUIRE(partitions_held(a) > 0);  // the three share the partitions
  REQUIRE(partitions_held(b) > 0);
  REQUIRE(partitions_held(c) > 0);
  mid_period();
  auto const [period_before, runs_before] = schedule();

  std::atomic<bool> sending{true}, c_dead{false};
  std::mutex mutex;
  std::set<std::int64_t> acknowledged;
  std::size_t refused = 0, unexpected = 0;
  std::thread sender([&] {
    int next = 0, turn = 0;
    while (sending) {
      ServeProcess const* to[] = {&a, &b, &c};
      auto const* s = to[turn++ % 3];
      if (s == &c && c_dead) continue;
      auto r = post_batch(*s, next, 20);
      std::lock_guard lock(mutex);
      if (r && r->status == 200)
        for (int n = next; n < next + 20; ++n) acknowledged.insert(n);
      else
        ++refused;
      // A refusal is a 503 (Redis away: retry) or no answer (the server killed); never a 500.
      if (r && r->status != 200 && r->status != 503) ++unexpected;
      next += 20;
      std::this_thread::sleep_for(2ms);  // steady load, not a flood: the sinks are read back below
    }
  });
  std::this_thread::sleep_for(2s);
  c_dead = true;
  c.kill_hard();
  std::this_thread::sleep_for(2s);
  redis.stop();
  std::this_thread::sleep_for(500ms);
  redis.start();
  std::this_thread::sleep_for(3s);
  sending = false;
  sender.join();

  INFO("acknowledged " << acknowledged.size() << ", refused requests " << refused);
  REQUIRE(acknowledged.size() > 200);
  CHECK(unexpected == 0);
  // Every acknowledged event reaches a sink (c's holds what it wrote before it died).
  std::vector<std::int64_t> missing;
  std::map<std::int64_t, int> all;
  for (int i = 0; i < 120; ++i) {  // the sinks are re-read twice a second: reading them is what costs here
    all = written({&a, &b, &c});
    missing.clear();
    for (auto n : acknowledged)
      if (!all.count(n)) missing.push_back(n);
    if (missing.empty()) break;
    std::this_thread::sleep_for(500ms);
  }
  for (auto const* s : {&a, &b, &c})
    for (auto const& d : s->diagnostics("stream_partitions")) UNSCOPED_INFO(s->pid() << " " << boost::json::serialize(d));
  for (auto const* s : {&a, &b})
    for (auto const type : {"stream_error", "stream_paused", "sink_error"})
      for (auto const& d : s->diagnostics(type)) UNSCOPED_INFO(boost::json::serialize(d));
  INFO("acknowledged and in no sink: " << missing.size() << (missing.empty() ? "" : ", the first " + std::to_string(missing.front())));
  REQUIRE(missing.empty());
  std::size_t duplicates = 0;
  for (auto const& [n, times] : all) duplicates += static_cast<std::size_t>(times - 1);
  WARN("events written twice (at least once, not exactly once): " << duplicates << " of " << acknowledged.size());

  mid_period();
  auto const [period_after, runs_after] = schedule();
  auto const periods = (period_after - period_before) / 60'000;
  CHECK(periods >= 3);
  CHECK(runs_after - runs_before == periods);  // once a period for team 1, across the cluster
  CHECK(a.stop() == 0);
  CHECK(b.stop() == 0);
}

}  // namespace cluster_test
