// Serve mode with REDIS_URL: meta.cache and meta.storage live in a real
// redis-server (started by the test on a free loopback port), scoped by team,
// shared by two servers, and /_ready follows Redis going away and coming back.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <boost/json.hpp>

#include "serve_process.hpp"
#include "../support/redis_server.hpp"

using posthog::testing::RedisServer;
using posthog::testing::ServeProcess;
using posthog::testing::wait_until;

namespace {

boost::json::object two_teams() {
  auto team = [](int id, const char* token) {
    return boost::json::object{{"id", id}, {"token", token},
                               {"plugins", {boost::json::object{{"name", "testkit"}, {"config", {{"label", "t"}}}}}}};
  };
  return {{"plugins", {boost::json::object{{"name", "testkit"},
                                           {"file", std::string(POSTHOG_TEST_MODULES_DIR) + "/testkit.so"}}}},
          {"teams", {team(1, "phc_one"), team(2, "phc_two")}}};
}

void send(const ServeProcess& s, const char* token, boost::json::object properties) {
  httplib::Client c("127.0.0.1", s.port());
  auto r = c.Post("/e/",
                  boost::json::serialize(boost::json::object{{"api_key", token}, {"event", "e"}, {"distinct_id", "d"},
                                                             {"properties", std::move(properties)}}),
                  "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 200);
}

// The `recalled` property of the sink's events, in order.
std::vector<std::string> recalled(const ServeProcess& s) {
  std::vector<std::string> out;
  for (auto const& e : s.sink_events())
    if (auto const* v = e.at("properties").as_object().if_contains("recalled"))
      out.push_back(boost::json::serialize(*v));
  return out;
}

}  // namespace

TEST_CASE("redis: storage and cache live in Redis, scoped by team, and two servers share them", "[serve][redis]") {
  RedisServer redis;
  ServeProcess a(two_teams(), {"REDIS_URL=" + redis.url()});
  ServeProcess b(two_teams(), {"REDIS_URL=" + redis.url()});  // another server: its own store, the same Redis
  send(a, "phc_one", {{"remember", "from server a"}, {"seq", 1}});
  posthog::server::RedisConnection raw(redis.endpoint(), std::chrono::milliseconds(1000));
  wait_until([&] { return !raw.command({"GET", "posthog-plugin-server:storage:@plugin/testkit/1/remembered"}).is_nil(); },
             "team 1's storage value is in Redis");
  CHECK(raw.command({"GET", "posthog-plugin-server:storage:@plugin/testkit/1/remembered"}).text == "\"from server a\"");
  CHECK(raw.command({"GET", "posthog-plugin-server:cache:@plugin/testkit/1/seq/d"}).text == "1");
  CHECK(raw.command({"EXISTS", "posthog-plugin-server:storage:@plugin/testkit/2/remembered"}).integer == 0);

  send(b, "phc_one", {{"recall", true}});  // server b sees what server a stored
  send(b, "phc_two", {{"recall", true}});  // team 2 does not
  wait_until([&] { return recalled(b).size() == 2; }, "server b recalled twice");
  CHECK(recalled(b) == std::vector<std::string>{"\"from server a\"", "null"});
  CHECK(a.stop() == 0);
  CHECK(b.stop() == 0);
}

TEST_CASE("redis: /_ready reports Redis, and follows it going away and coming back", "[serve][redis]") {
  RedisServer redis;
  ServeProcess server(two_teams(), {"REDIS_URL=" + redis.url()});
  httplib::Client c("127.0.0.1", server.port());
  auto ready = c.Get("/_ready");
  REQUIRE(ready);
  CHECK(ready->status == 200);
  CHECK(boost::json::parse(ready->body).at("redis").at("reachable") == true);
  redis.stop();
  ready = c.Get("/_ready");
  REQUIRE(ready);
  CHECK(ready->status == 503);
  CHECK(boost::json::parse(ready->body).at("redis").at("reachable") == false);
  // An event whose plugin needs Redis meanwhile: accepted, the plugin's error recorded, the event kept.
  send(server, "phc_one", {{"remember", "while down"}});
  wait_until([&] { return server.sink_events().size() == 1; }, "the event reached the sink");
  redis.start();
  wait_until([&] {
    auto r = c.Get("/_ready");
    return r && r->status == 200;
  }, "ready again once Redis is back");
  CHECK(server.stop() == 0);
}

TEST_CASE("redis: a REDIS_URL that cannot be used stops the server at start, naming it", "[serve][redis]") {
  CHECK_THROWS_WITH(ServeProcess(two_teams(), {"REDIS_URL=http://127.0.0.1:6379"}),
                    Catch::Contains("redis url") && Catch::Contains("redis://"));
}
