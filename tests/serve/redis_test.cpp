// Serve mode with REDIS_URL: meta.cache and meta.storage live in a real
// redis-server (started by the test on a free loopback port), scoped by team,
// shared by two servers, and /_ready follows Redis going away and coming back.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <algorithm>
#include <boost/json.hpp>

#include "serve_process.hpp"
#include "../support/redis_server.hpp"

namespace redis_test {

using posthog::testing::capture_status;
using posthog::testing::post_event;
using posthog::testing::RedisServer;
using posthog::testing::ServeProcess;
using posthog::testing::wait_until;

namespace {

boost::json::object two_teams() {
  auto team = [](int id, const char* token) {
    return boost::json::object{{"id", id}, {"token", token},
                               {"plugins", {boost::json::object{{"name", "testkit"}, {"config", {{"label", "t"}}}}}}};
  };
  return {{"plugins", {posthog::testing::testkit_plugin()}},
          {"teams", {team(1, "phc_one"), team(2, "phc_two")}}};
}

// The `recalled` property of the sink's events, sorted (the two teams' events
// may be in different stream partitions, so their order is not kept).
std::vector<std::string> recalled(const ServeProcess& s) {
  std::vector<std::string> out;
  for (auto const& e : s.sink_events())
    if (auto const* v = e.at("properties").as_object().if_contains("recalled"))
      out.push_back(boost::json::serialize(*v));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("redis: storage and cache live in Redis, scoped by team, and two servers share them", "[serve][redis]") {
  RedisServer redis;
  // One server at a time, so that the one that recalls is not the one that remembered.
  auto a = std::make_unique<ServeProcess>(two_teams(), std::vector<std::string>{"REDIS_URL=" + redis.url()});
  post_event(*a, {.api_key = "phc_one", .properties = {{"remember", "from server a"}, {"seq", 1}}});
  posthog::server::RedisConnection raw(redis.endpoint(), std::chrono::milliseconds(1000));
  wait_until([&] { return !raw.command({"GET", "posthog-plugin-server:storage:@plugin/testkit/1/remembered"}).is_nil(); },
             "team 1's storage value is in Redis");
  CHECK(raw.command({"GET", "posthog-plugin-server:storage:@plugin/testkit/1/remembered"}).text == "\"from server a\"");
  CHECK(raw.command({"GET", "posthog-plugin-server:cache:@plugin/testkit/1/seq/d"}).text == "1");
  CHECK(raw.command({"EXISTS", "posthog-plugin-server:storage:@plugin/testkit/2/remembered"}).integer == 0);

  CHECK(a->stop() == 0);
  a.reset();
  ServeProcess b(two_teams(), {"REDIS_URL=" + redis.url()});  // another server: its own store, the same Redis
  post_event(b, {.api_key = "phc_one", .properties = {{"recall", true}}});  // server b sees what server a stored
  post_event(b, {.api_key = "phc_two", .properties = {{"recall", true}}});  // team 2 does not
  wait_until([&] { return recalled(b).size() == 2; }, "recalled twice");
  CHECK(recalled(b) == std::vector<std::string>{"\"from server a\"", "null"});
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
  // Events go through the stream in Redis: while it is away capture takes
  // nothing and says when to come back; nothing was acknowledged, nothing is lost.
  auto refused = c.Post("/e/", R"({"api_key": "phc_one", "event": "e", "distinct_id": "d"})", "application/json");
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK(refused->get_header_value("Retry-After") == "5");
  CHECK(boost::json::parse(refused->body).at("code") == "log_unavailable");
  redis.start();
  wait_until([&] {
    auto r = c.Get("/_ready");
    return r && r->status == 200;
  }, "ready again once Redis is back");
  // As a client would: on 503, again. A pool connection busy elsewhere when
  // Redis came back may still be waiting out its backoff for a moment.
  bool taken = false;  // wait_until calls its condition once more at the end: post until taken, once
  wait_until([&] {
    if (taken) return true;
    auto r = c.Post("/e/", R"({"api_key": "phc_one", "event": "e", "distinct_id": "d"})", "application/json");
    REQUIRE(r);
    CHECK((r->status == 200 || r->status == 503));
    return taken = r->status == 200;
  }, "capture takes events again once Redis is back");
  wait_until([&] { return server.sink_events().size() == 1; }, "the event taken after Redis came back reached the sink");
  CHECK(server.stop() == 0);
}

TEST_CASE("redis: a REDIS_URL that cannot be used stops the server at start, naming it", "[serve][redis]") {
  CHECK_THROWS_WITH(ServeProcess(two_teams(), {"REDIS_URL=http://127.0.0.1:6379"}),
                    Catch::Contains("redis url") && Catch::Contains("redis://"));
}

namespace {

constexpr const char* cluster_token = "cluster-test-admin-token-0123456789";

boost::json::object with_admin(boost::json::object config) {
  config["serve"] = boost::json::object{{"admin", {{"listen", "127.0.0.1:0"}, {"token", cluster_token}}}};
  return config;
}

httplib::Result admin_call(const ServeProcess& s, const std::string& method, const std::string& path,
                           const std::string& body = "") {
  httplib::Client c("127.0.0.1", s.admin_port());
  c.set_bearer_token_auth(cluster_token);
  if (method == "PUT") return c.Put(path.c_str(), body, "application/json");
  if (method == "DELETE") return c.Delete(path.c_str());
  if (method == "POST") return c.Post(path.c_str(), body, "application/json");
  return c.Get(path.c_str());
}

std::string serving_version(const ServeProcess& s, const std::string& plugin) {
  auto r = admin_call(s, "GET", "/api/plugins/" + plugin);
  if (!r || r->status != 200) return "";
  auto const v = boost::json::parse(r->body);
  return v.at("serving").is_object() ? std::string(v.at("serving").at("version").as_string()) : "";
}

}  // namespace

TEST_CASE("redis: a team set or deleted through one server's admin API reaches the others", "[serve][redis][cluster]") {
  RedisServer redis;
  std::vector<std::string> env{"REDIS_URL=" + redis.url()};
  ServeProcess a(with_admin(two_teams()), env);
  ServeProcess b(with_admin(two_teams()), env);
  CHECK(capture_status(b, {.api_key = "phc_three"}) == 401);

  auto put = admin_call(a, "PUT", "/api/teams/3",
                        R"({"token": "phc_three", "plugins": [{"name": "testkit", "config": {"label": "three"}}]})");
  REQUIRE(put);
  REQUIRE(put->status == 200);
  CHECK(boost::json::parse(put->body).at("cluster") == "announced");
  CHECK(capture_status(a, {.api_key = "phc_three"}) == 200);
  wait_until([&] { return capture_status(b, {.api_key = "phc_three"}) == 200; },
             "server b serves the team set on server a");
  ServeProcess c(with_admin(two_teams()), env);  // started later: reads the team from Redis
  CHECK(capture_status(c, {.api_key = "phc_three"}) == 200);

  auto del = admin_call(b, "DELETE", "/api/teams/3");
  REQUIRE(del);
  REQUIRE(del->status == 200);
  wait_until([&] {
    return capture_status(a, {.api_key = "phc_three"}) == 401 && capture_status(c, {.api_key = "phc_three"}) == 401;
  },
             "servers a and c dropped the team deleted on server b");
  CHECK(a.stop() == 0);
  CHECK(b.stop() == 0);
  CHECK(c.stop() == 0);
}

TEST_CASE("redis: a hot swap and a rollback on one server reach the two others", "[serve][redis][cluster]") {
  namespace fs = std::filesystem;
  RedisServer redis;
  auto const plugins = fs::temp_directory_path() / ("posthog-cluster-swap-" + std::to_string(::getpid()));
  fs::remove_all(plugins);
  fs::create_directories(plugins);
  auto place = [&](const char* build) {
    fs::copy_file(fs::path(POSTHOG_TEST_MODULES_DIR) / "swapkit" / (std::string(build) + ".so"),
                  plugins / "swapkit.so.tmp", fs::copy_options::overwrite_existing);
    fs::rename(plugins / "swapkit.so.tmp", plugins / "swapkit.so");
  };
  place("v1");
  boost::json::object config{
      {"watch_plugins", false},  // only the cluster bus may carry the swap to server b
      {"plugins", {boost::json::object{{"name", "swapkit"}, {"file", (plugins / "swapkit.so").string()}}}},
      {"teams", {boost::json::object{{"id", 1}, {"token", "phc_one"},
                                     {"plugins", {boost::json::object{{"name", "swapkit"}}}}}}}};
  std::vector<std::string> env{"REDIS_URL=" + redis.url()};
  ServeProcess a(with_admin(config), env);
  ServeProcess b(with_admin(config), env);
  ServeProcess c(with_admin(config), env);
  REQUIRE(serving_version(b, "swapkit") == "1.0.0");
  // Plugin announcements are not resynced: b and c must be listening before a swaps.
  wait_until([&] { return !b.diagnostics("cluster_listening").empty() && !c.diagnostics("cluster_listening").empty(); },
             "servers b and c listen on the cluster bus");

  place("v2");
  auto reload = admin_call(a, "POST", "/api/plugins/swapkit/reload");
  REQUIRE(reload);
  REQUIRE(reload->status == 200);
  wait_until([&] { return serving_version(b, "swapkit") == "2.0.0" && serving_version(c, "swapkit") == "2.0.0"; },
             "servers b and c swapped to 2.0.0 as server a did");
  auto rollback = admin_call(a, "POST", "/api/plugins/swapkit/rollback");
  REQUIRE(rollback);
  REQUIRE(rollback->status == 200);
  wait_until([&] { return serving_version(b, "swapkit") == "1.0.0" && serving_version(c, "swapkit") == "1.0.0"; },
             "servers b and c rolled back as server a did");
  CHECK_FALSE(b.diagnostics("cluster_swap").empty());
  CHECK(a.stop() == 0);
  CHECK(b.stop() == 0);
  CHECK(c.stop() == 0);
  fs::remove_all(plugins);
}

TEST_CASE("redis: a server whose Redis is down at start serves once it is up, answering 503 meanwhile",
          "[serve][redis]") {
  RedisServer redis;
  redis.stop();
  ServeProcess server(two_teams(), {"REDIS_URL=" + redis.url()});  // schedules, exports, jobs: not fatal
  httplib::Client c("127.0.0.1", server.port());
  auto refused = c.Post("/e/", R"({"api_key": "phc_one", "event": "e", "distinct_id": "d"})", "application/json");
  REQUIRE(refused);
  CHECK(refused->status == 503);
  redis.start();
  bool taken = false;  // wait_until calls its condition once more at the end: post until taken, once
  wait_until([&] {
    if (taken) return true;
    auto r = c.Post("/e/", R"({"api_key": "phc_one", "event": "e", "distinct_id": "d"})", "application/json");
    return taken = r && r->status == 200;
  }, "capture takes events once Redis is up");
  wait_until([&] { return server.sink_events().size() == 1; }, "and the worker runs them");
  CHECK(server.stop() == 0);
}

}  // namespace redis_test
