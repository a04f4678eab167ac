// serve.isolation: process. A plugin that segfaults, aborts, hangs or eats
// memory costs its own hook call: the real server, under load from two
// clients for two teams, answers throughout, writes every acknowledged event
// to the sink exactly once, sends the poisoned events on with the plugin in
// $plugins_failed, leaves the other team alone, and shows each crash in the
// admin API and /metrics.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "serve_process.hpp"
#include "../support/redis_server.hpp"

namespace isolation_test {

using posthog::testing::ServeProcess;
using posthog::testing::wait_until;

namespace {

constexpr const char* token = "0123456789abcdef0123";

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;  // their shadow memory does not fit under an address-space limit
#else
constexpr bool sanitized = false;
#endif

boost::json::object config(std::uint64_t memory_limit_mb) {
  boost::json::object isolation{{"mode", "process"}};
  if (memory_limit_mb) isolation["memory_limit_mb"] = memory_limit_mb;
  return {{"plugins", {boost::json::object{{"name", "helloworld"}}, posthog::testing::testkit_plugin()}},
          {"teams",
           {boost::json::object{{"id", 1}, {"token", "phc_one"}, {"plugins", {boost::json::object{{"name", "helloworld"}}}}},
            boost::json::object{{"id", 2},
                                {"token", "phc_two"},
                                {"plugins",
                                 {boost::json::object{{"name", "helloworld"}},
                                  boost::json::object{{"name", "testkit"}, {"config", {{"label", "two"}}}}}}}}},
          {"serve",
           {{"isolation", isolation},
            {"admin", {{"listen", "127.0.0.1:0"}, {"token", token}}},
            {"health", {{"hard_timeout_ms", 1000}}}}}};
}

// Posts batches of 20 events with unique ids for one team until stopped;
// remembers the ids of every batch answered 200, and any other answer.
class Client {
 public:
  Client(int port, std::string api_key, std::string name)
      : port_(port), api_key_(std::move(api_key)), name_(std::move(name)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Client() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::size_t batches() const { return batches_.load(); }
  std::vector<std::string> acknowledged() {
    std::lock_guard lock(mutex_);
    return ids_;
  }
  std::size_t failures() const { return failures_.load(); }

 private:
  void run() {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(10);
    for (int n = 0; !stopping_; ++n) {
      boost::json::array batch;
      std::vector<std::string> ids;
      for (int i = 0; i < 20; ++i) {
        ids.push_back(name_ + "-" + std::to_string(n) + "-" + std::to_string(i));
        batch.push_back(boost::json::object{{"event", "e"},
                                            {"distinct_id", "person-" + std::to_string(i % 5)},
                                            {"properties", {{"id", ids.back()}}}});
      }
      auto r = client.Post("/batch/", boost::json::serialize(boost::json::object{{"api_key", api_key_}, {"batch", batch}}),
                           "application/json");
      if (!r || r->status != 200) {
        ++failures_;
        continue;
      }
      std::lock_guard lock(mutex_);
      ids_.insert(ids_.end(), ids.begin(), ids.end());
      ++batches_;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  int port_;
  std::string api_key_, name_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> batches_{0}, failures_{0};
  std::mutex mutex_;
  std::vector<std::string> ids_;
  std::thread thread_;
};

std::string id_of(const boost::json::object& e) {
  auto const* id = e.at("properties").as_object().if_contains("id");
  return id && id->is_string() ? std::string(id->get_string()) : std::string();
}

bool listed(const boost::json::object& e, const char* list, const std::string& entry) {
  auto const* v = e.at("properties").as_object().if_contains(list);
  if (!v || !v->is_array()) return false;
  for (auto const& x : v->as_array())
    if (x.is_string() && x.as_string() == entry) return true;
  return false;
}

httplib::Result admin(const ServeProcess& s, const char* method, const std::string& path) {
  httplib::Client c("127.0.0.1", s.admin_port());
  c.set_bearer_token_auth(token);
  c.set_read_timeout(10);
  if (std::string_view(method) == "POST") return c.Post(path.c_str(), "", "application/json");
  return c.Get(path.c_str());
}

}  // namespace

TEST_CASE("isolation: a plugin that segfaults, aborts, hangs or eats memory costs its own call, not the server",
          "[serve][isolation][crash]") {
  ServeProcess server(config(sanitized ? 0 : 1024));
  Client one(server.port(), "phc_one", "one"), two(server.port(), "phc_two", "two");
  wait_until([&] { return one.batches() >= 20 && two.batches() >= 20; }, "both clients are answered");

  std::vector<std::string> kinds{"segfault", "abort", "hang"};
  if (!sanitized) kinds.push_back("alloc");
  std::map<std::string, std::string> poisoned;  // id -> kind
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    auto const& kind = kinds[k];
    auto const id = "poison-" + kind;
    poisoned[id] = kind;
    posthog::testing::post_batch(server,
                                 {boost::json::object{{"event", "poison"},
                                                      {"distinct_id", "poisoner"},
                                                      {"properties", {{"id", id}, {"crash", kind}}}}},
                                 "phc_two");
    // The crash is seen, a new worker runs, and the plugin is enabled again
    // (a crash pauses it) for the next kind.
    wait_until(
        [&] {
          auto r = admin(server, "GET", "/api/isolation");
          return r && r->status == 200 && boost::json::parse(r->body).at("crashes").as_array().size() == k + 1 &&
                 boost::json::parse(r->body).at("worker_up").as_bool();
        },
        "the supervisor recorded the crash and the new worker is up", &server);
    auto enabled = admin(server, "POST", "/api/teams/2/plugins/testkit/enable");
    REQUIRE(enabled);
    CHECK(enabled->status == 200);
  }
  // Load goes on across every restart.
  auto const before = one.batches() + two.batches();
  wait_until([&] { return one.batches() + two.batches() >= before + 20; }, "the clients are still answered");
  one.stop();
  two.stop();
  CHECK(one.failures() + two.failures() == 0);  // capture never stopped answering 200

  // Each poisoned event ran again in the next worker, without testkit.
  wait_until(
      [&] {
        std::set<std::string> ids;
        for (auto const& e : server.sink_events()) ids.insert(id_of(e));
        return std::all_of(poisoned.begin(), poisoned.end(), [&](auto const& p) { return ids.count(p.first) > 0; });
      },
      "every poisoned event reached the sink");

  auto isolation = admin(server, "GET", "/api/isolation");
  REQUIRE(isolation);
  auto const crashes = boost::json::parse(isolation->body).at("crashes").as_array();
  REQUIRE(crashes.size() == kinds.size());
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    auto const& c = crashes[k].as_object();
    INFO(boost::json::serialize(c));
    CHECK(c.at("team_id") == 2);
    CHECK(c.at("plugin") == "testkit");
    CHECK(c.at("hook") == "process_event");
    CHECK(c.at("subject").as_string().starts_with("event "));
    CHECK(c.at("position").as_int64() >= 0);
  }
  CHECK(crashes[0].at("cause").as_string().starts_with("SIGSEGV"));
  CHECK(crashes[1].at("cause").as_string().starts_with("SIGABRT"));
  CHECK(crashes[2].at("cause").as_string().find("hard timeout") != std::string::npos);
  if (!sanitized) CHECK(crashes[3].at("cause").as_string().find("out of memory") != std::string::npos);

  auto metrics = admin(server, "GET", "/metrics");
  REQUIRE(metrics);
  CHECK_THAT(metrics->body, Catch::Contains("posthog_plugin_crashes_total{team=\"2\",plugin=\"testkit\",hook=\"process_event\"} " +
                                            std::to_string(kinds.size())));
  CHECK_THAT(metrics->body, Catch::Contains("posthog_worker_restarts_total " + std::to_string(kinds.size())));
  auto errors = admin(server, "GET", "/api/teams/2/plugins/testkit/errors");
  REQUIRE(errors);
  // Each poisoned event has its plugin_crash error, with the event as the
  // plugin received it (twice when a later crash sent its batch round again).
  std::set<std::string> with_error;
  auto const error_list = boost::json::parse(errors->body);
  for (auto const& e : error_list.at("errors").as_array())
    if (e.at("kind") == "plugin_crash") {
      INFO(boost::json::serialize(e));
      with_error.insert(std::string(e.at("event").at("properties").at("id").as_string()));
    }
  INFO(errors->body);
  for (auto const& [id, kind] : poisoned) CHECK(with_error.count(id) == 1);

  REQUIRE(server.stop() == 0);
  auto const events = server.sink_events();
  std::map<std::string, int> seen;
  for (auto const& e : events) ++seen[id_of(e)];
  std::size_t missing = 0, twice = 0;
  for (auto* c : {&one, &two})
    for (auto const& id : c->acknowledged()) {
      missing += seen[id] == 0;
      twice += seen[id] > 1;
    }
  CHECK(missing == 0);
  CHECK(twice == 0);
  for (auto const& e : events) {
    auto const id = id_of(e);
    if (poisoned.count(id)) {
      INFO(id);
      CHECK(seen[id] == 1);
      CHECK(listed(e, "$plugins_failed", "testkit (2)"));
      CHECK(listed(e, "$plugins_succeeded", "helloworld (2)"));
    }
    if (e.at("team_id") == 1) {
      CHECK(e.at("properties").at("$plugins_failed").as_array().empty());
      CHECK(listed(e, "$plugins_succeeded", "helloworld (1)"));
    }
  }
  for (auto const& [id, kind] : poisoned) CHECK(seen[id] == 1);
}

TEST_CASE("isolation: with Redis and two servers, the event that crashed one worker does not crash the other",
          "[serve][isolation][crash][redis]") {
  posthog::testing::RedisServer redis;
  auto c = config(0);
  c["serve"].as_object()["redis"] = boost::json::object{{"stream", {{"lease_ms", 1000}}}};
  std::vector<std::string> env{"REDIS_URL=" + redis.url()};
  ServeProcess a(c, env), b(c, env);
  Client one(a.port(), "phc_one", "one"), two(b.port(), "phc_two", "two");
  wait_until([&] { return one.batches() >= 20 && two.batches() >= 20; }, "both clients are answered");
  auto crashes = [&](const ServeProcess& s) {
    auto r = admin(s, "GET", "/api/isolation");
    return r && r->status == 200 ? boost::json::parse(r->body).at("crashes").as_array().size() : 0;
  };
  auto in_sinks = [&](const std::string& id) {
    std::vector<boost::json::object> found;
    for (auto const* s : {&a, &b})
      for (auto const& e : s->sink_events())
        if (id_of(e) == id) found.push_back(e);
    return found;
  };
  std::vector<std::string> const kinds{"segfault", "abort"};
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    auto const id = "poison-" + kinds[k];
    posthog::testing::post_batch(a,
                                 {boost::json::object{{"event", "poison"},
                                                      {"distinct_id", "poisoner"},
                                                      {"properties", {{"id", id}, {"crash", kinds[k]}}}}},
                                 "phc_two");
    // Whichever server read it crashed once; its partition moved or its new
    // worker took it back; either way the event went on without testkit.
    wait_until([&] { return !in_sinks(id).empty(); }, "the poisoned event reached a sink");
    // Both servers' workers know the crash, wherever it happened: the one
    // that takes the partition over skips testkit for the event.
    auto quarantined = [&](const ServeProcess& s) -> std::size_t {
      auto r = httplib::Client("127.0.0.1", s.port()).Get("/_ready");
      if (!r) return 0;
      auto const ready = boost::json::parse(r->body);
      auto const* q = ready.as_object().if_contains("quarantined_calls");
      return q ? static_cast<std::size_t>(q->to_number<std::uint64_t>()) : 0;
    };
    wait_until([&] { return quarantined(a) >= k + 1 && quarantined(b) >= k + 1; }, "both workers know the crash");
    for (auto const* s : {&a, &b})
      wait_until([&] {
        auto r = admin(*s, "POST", "/api/teams/2/plugins/testkit/enable");
        return r && r->status == 200;
      }, "testkit enabled again");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // longer than a lease: a loop would show
  CHECK(crashes(a) + crashes(b) == kinds.size());
  one.stop();
  two.stop();
  for (auto const& kind : kinds)
    for (auto const& e : in_sinks("poison-" + kind)) CHECK(listed(e, "$plugins_failed", "testkit (2)"));
  REQUIRE(a.stop() == 0);
  REQUIRE(b.stop() == 0);
  std::set<std::string> seen;
  for (auto const* s : {&a, &b})
    for (auto const& e : s->sink_events()) seen.insert(id_of(e));
  std::size_t missing = 0;
  for (auto* client : {&one, &two})
    for (auto const& id : client->acknowledged()) missing += seen.count(id) == 0;
  CHECK(missing == 0);
}

TEST_CASE("isolation: a crash in setup_team refuses the copy, and the server serves", "[serve][isolation][crash]") {
  auto c = config(0);
  c["teams"].as_array()[1].as_object()["plugins"].as_array()[1].as_object()["config"] =
      boost::json::object{{"label", "crash setup"}};
  ServeProcess server(c);
  posthog::testing::post_event(server, {.api_key = "phc_two", .properties = {{"id", "after"}}});
  wait_until([&] { return !server.sink_events().empty(); }, "the event reached the sink");
  auto isolation = admin(server, "GET", "/api/isolation");
  REQUIRE(isolation);
  auto const crashes = boost::json::parse(isolation->body).at("crashes").as_array();
  REQUIRE(crashes.size() == 1);
  CHECK(crashes[0].at("hook") == "setup_team");
  CHECK(crashes[0].at("team_id") == 2);
  REQUIRE(server.stop() == 0);
  auto const e = server.sink_events().at(0);
  CHECK(listed(e, "$plugins_succeeded", "helloworld (2)"));
  CHECK_FALSE(listed(e, "$plugins_succeeded", "testkit (2)"));
}

TEST_CASE("isolation: a job that crashes fails as if it had thrown, and on_event's crash loses no event",
          "[serve][isolation][crash]") {
  auto c = config(0);
  c["serve"].as_object()["jobs"] = boost::json::object{{"visibility_seconds", 1}};
  ServeProcess server(c);
  // on_event runs after the batch is committed: its crash costs the calls
  // after it in that batch, never an event in the sink.
  posthog::testing::post_batch(server,
                               {boost::json::object{{"event", "e"}, {"distinct_id", "d"},
                                                    {"properties", {{"id", "on-event"}, {"crash_on_event", "segfault"}}}}},
                               "phc_two");
  wait_until(
      [&] {
        auto r = admin(server, "GET", "/api/isolation");
        if (!r || r->status != 200) return false;
        auto const body = boost::json::parse(r->body);
        return body.at("crashes").as_array().size() == 1 && body.at("worker_up").as_bool();
      },
      "the on_event crash is recorded and a new worker is up");
  auto enabled = admin(server, "POST", "/api/teams/2/plugins/testkit/enable");
  REQUIRE(enabled);
  REQUIRE(enabled->status == 200);
  posthog::testing::post_batch(server,
                               {boost::json::object{{"event", "e"}, {"distinct_id", "d"},
                                                    {"properties", {{"id", "job"}, {"job", "crash"}}}}},
                               "phc_two");
  // The job crashes its worker; the next worker fails it, as a throw would.
  wait_until(
      [&] {
        auto r = admin(server, "GET", "/api/teams/2/plugins/testkit/jobs");
        return r && r->status == 200 && boost::json::parse(r->body).at("failed").to_number<int>() == 1;
      },
      "the crashed job is failed");
  auto const jobs = boost::json::parse(admin(server, "GET", "/api/teams/2/plugins/testkit/jobs")->body);
  CHECK_THAT(std::string(jobs.at("failed_jobs").at(0).at("last_error").as_string()), Catch::Contains("plugin_crash"));
  auto const isolation = boost::json::parse(admin(server, "GET", "/api/isolation")->body);
  auto const& crashes = isolation.at("crashes").as_array();
  REQUIRE(crashes.size() == 2);
  CHECK(crashes[0].at("hook") == "on_event");
  CHECK(crashes[1].at("hook") == "run_job");
  CHECK(crashes[1].at("subject").as_string().starts_with("job "));
  REQUIRE(server.stop() == 0);
  std::map<std::string, int> seen;
  for (auto const& e : server.sink_events()) ++seen[id_of(e)];
  CHECK(seen["on-event"] == 1);
  CHECK(seen["job"] == 1);
}

TEST_CASE("isolation: thread mode still runs plugins in the server's own threads", "[serve][isolation]") {
  auto c = config(0);
  c["serve"].as_object()["isolation"] = "thread";
  ServeProcess server(c);
  posthog::testing::post_event(server, {.api_key = "phc_one", .properties = {{"id", "t"}}});
  wait_until([&] { return server.sink_events().size() == 1; }, "the event reached the sink");
  auto r = admin(server, "GET", "/api/isolation");
  REQUIRE(r);
  CHECK(r->status == 404);
  REQUIRE(server.stop() == 0);
}

}  // namespace isolation_test
