// The admin API end to end: the real server, its admin port over loopback.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <boost/json.hpp>

#include "serve_process.hpp"

namespace admin_test {

using posthog::testing::capture_status;
using posthog::testing::post_event;
using posthog::testing::ServeProcess;

namespace {

constexpr const char* admin_token = "test-admin-token-0123456789";

boost::json::object admin_config() {
  return {{"plugins",
           {posthog::testing::testkit_plugin(),
            boost::json::object{{"name", "helloworld"}}}},
          {"teams",
           {boost::json::object{{"id", 1},
                                {"token", "phc_one"},
                                {"plugins",
                                 {boost::json::object{{"name", "testkit"},
                                                      {"config", {{"label", "from file"}, {"api_key", "sekrit"}}}}}}}}},
          {"serve", {{"admin", {{"listen", "127.0.0.1:0"}, {"token", admin_token}}}}}};
}

struct Admin {
  httplib::Client client;
  explicit Admin(const ServeProcess& s) : client("127.0.0.1", s.admin_port()) {
    client.set_bearer_token_auth(admin_token);
  }
  boost::json::object get(const std::string& path, int expect = 200) {
    auto r = client.Get(path.c_str());
    REQUIRE(r);
    CHECK(r->status == expect);
    return boost::json::parse(r->body).as_object();
  }
  httplib::Result put(const std::string& path, const boost::json::value& body) {
    return client.Put(path.c_str(), boost::json::serialize(body), "application/json");
  }
};

// The server's sink after it stopped (events in order of arrival).
boost::json::object last_event(ServeProcess& s) {
  REQUIRE(s.stop() == 0);
  auto events = s.sink_events();
  REQUIRE_FALSE(events.empty());
  return events.back();
}

}  // namespace

TEST_CASE("admin: every endpoint but the probes needs the bearer token", "[serve][admin]") {
  ServeProcess server(admin_config());
  REQUIRE(server.admin_port() > 0);
  httplib::Client anonymous("127.0.0.1", server.admin_port());
  auto r = anonymous.Get("/api/teams");
  REQUIRE(r);
  CHECK(r->status == 401);
  CHECK(r->get_header_value("WWW-Authenticate") == "Bearer");
  CHECK(boost::json::parse(r->body).at("code") == "unauthorized");
  anonymous.set_bearer_token_auth("test-admin-token-012345678X");  // same length, last byte wrong
  CHECK(anonymous.Get("/metrics")->status == 401);
  CHECK(anonymous.Put("/api/teams/1", "{}", "application/json")->status == 401);
  CHECK(anonymous.Get("/_health")->status == 200);
  auto ready = anonymous.Get("/_ready");
  CHECK(ready->status == 200);
  CHECK(boost::json::parse(ready->body).at("store") == "open");

  // The capture port does not serve the admin API.
  httplib::Client capture("127.0.0.1", server.port());
  capture.set_bearer_token_auth(admin_token);
  CHECK(capture.Get("/api/teams")->status == 404);
}

TEST_CASE("admin: no token configured means no admin port", "[serve][admin]") {
  auto config = admin_config();
  config["serve"].as_object().erase("admin");
  ServeProcess server(config);
  CHECK(server.admin_port() == 0);
}

TEST_CASE("admin: modules are listed with ABI, fingerprint, capabilities and manifest", "[serve][admin]") {
  ServeProcess server(admin_config());
  Admin admin(server);
  auto modules = admin.get("/api/modules");
  auto const& list = modules.at("modules").as_array();
  REQUIRE(list.size() == 2);
  auto const& testkit = list[0].as_object();
  CHECK(testkit.at("name") == "testkit");
  CHECK(testkit.at("abi").as_string().starts_with("1."));
  CHECK(testkit.at("file").as_string().ends_with("testkit.so"));
  CHECK_FALSE(testkit.at("build_fingerprint").as_string().empty());
  CHECK(testkit.at("capabilities").as_array().size() >= 2);
  CHECK(testkit.at("manifest").at("config").as_array().size() == 5);
  CHECK(modules.at("load_errors").as_array().empty());
}

TEST_CASE("admin: a team's config is validated by field, secrets never shown, applied without restart",
          "[serve][admin]") {
  ServeProcess server(admin_config());
  Admin admin(server);
  auto team = admin.get("/api/teams/1");
  auto& config = team.at("plugins").as_array()[0].as_object()["config"].as_object();
  CHECK(config.at("api_key") == "********");  // secret: never returned
  CHECK(config.at("label") == "from file");
  CHECK(admin.client.Get("/api/teams")->body.find("sekrit") == std::string::npos);

  // Invalid: the error names the field, nothing changes.
  auto bad = admin.put("/api/teams/1", {{"token", "phc_one"},
                                        {"plugins", {{{"name", "testkit"}, {"config", {{"label", "x"}, {"mode", "loud"}}}}}}});
  REQUIRE(bad);
  CHECK(bad->status == 400);
  auto error = boost::json::parse(bad->body);
  CHECK(error.at("field") == "plugins[0].config.mode");
  CHECK(error.at("error").as_string().find("loud") != boost::json::string::npos);
  auto missing = admin.put("/api/teams/1", {{"token", "phc_one"}, {"plugins", {{{"name", "testkit"}, {"config", boost::json::object{}}}}}});
  CHECK(boost::json::parse(missing->body).at("field") == "plugins[0].config.label");
  auto unknown = admin.put("/api/teams/1", {{"token", "phc_one"}, {"plugins", {{{"name", "nope"}}}}});
  CHECK(boost::json::parse(unknown->body).at("field") == "plugins[0].name");
  auto no_token = admin.put("/api/teams/1", {{"plugins", boost::json::array{}}});
  CHECK(boost::json::parse(no_token->body).at("field") == "token");
  auto not_json = admin.client.Put("/api/teams/1", "{nope", "application/json");
  CHECK(not_json->status == 400);
  CHECK(boost::json::parse(not_json->body).at("code") == "invalid_json");

  // Valid: the secret sent back redacted keeps its value; the next event sees the change.
  config["label"] = "changed";
  team.at("plugins").as_array().push_back(boost::json::object{{"name", "helloworld"}, {"config", {{"bar", "hi"}}}});
  auto ok = admin.put("/api/teams/1", team);
  REQUIRE(ok);
  REQUIRE(ok->status == 200);
  CHECK(boost::json::parse(ok->body).at("plugins").at(0).at("config").at("api_key") == "********");
  post_event(server, {});
  auto const event = last_event(server);
  CHECK(event.at("properties").at("testkit_label") == "changed");
  CHECK(event.at("properties").at("testkit_api_key_length") == 6);  // still "sekrit"
  CHECK(event.at("properties").at("bar") == "hi");                   // helloworld joined the chain
}

TEST_CASE("admin: plugin logs and errors per team, each error with its event", "[serve][admin]") {
  ServeProcess server(admin_config());
  Admin admin(server);
  post_event(server, {.properties = {{"log", "hello from the plugin"}}});
  post_event(server, {.properties = {{"throw", true}, {"marker", 42}}});
  // The log is written by the workers; the API reads through the store, which
  // sees every entry appended before the read. Wait for the pipeline to run it.
  boost::json::array errors;
  for (int i = 0; i < 500 && errors.empty(); ++i) {
    errors = admin.get("/api/teams/1/plugins/testkit/errors").at("errors").as_array();
    if (errors.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(errors.size() == 1);
  auto const& e = errors[0].as_object();
  CHECK(e.at("hook") == "process_event");
  CHECK(e.at("message") == "asked to throw");
  CHECK(e.at("event").at("properties").at("marker") == 42);  // the event as the plugin received it
  CHECK(e.at("event").at("uuid") == e.at("event_uuid"));
  auto logs = admin.get("/api/teams/1/plugins/testkit/logs?limit=5").at("logs").as_array();
  REQUIRE(logs.size() == 1);
  CHECK(logs[0].at("message") == "hello from the plugin");
  CHECK(logs[0].at("level") == "info");
  CHECK(admin.get("/api/teams/2/plugins/testkit/errors").at("errors").as_array().empty());  // another team
}

TEST_CASE("admin: /metrics in Prometheus text format", "[serve][admin][metrics]") {
  ServeProcess server(admin_config());
  Admin admin(server);
  post_event(server, {});
  post_event(server, {.properties = {{"drop", true}}});
  std::string text;
  for (int i = 0; i < 500; ++i) {
    auto r = admin.client.Get("/metrics");
    REQUIRE(r);
    CHECK(r->get_header_value("Content-Type").starts_with("text/plain; version=0.0.4"));
    text = r->body;
    if (text.find("posthog_events_dropped_total{team_id=\"1\"} 1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK_THAT(text, Catch::Contains("posthog_events_in_total{team_id=\"1\"} 2"));
  CHECK_THAT(text, Catch::Contains("posthog_events_out_total{team_id=\"1\"} 1"));
  CHECK_THAT(text, Catch::Contains("posthog_events_dropped_total{team_id=\"1\"} 1"));
  CHECK_THAT(text, Catch::Contains("posthog_plugin_calls_total{plugin=\"testkit\",hook=\"process_event\"} 2"));
  CHECK_THAT(text, Catch::Contains("posthog_plugin_duration_seconds_count{plugin=\"testkit\"} 2"));
  CHECK_THAT(text, Catch::Contains("posthog_plugin_duration_seconds_bucket{plugin=\"testkit\",le=\"+Inf\"} 2"));
  CHECK_THAT(text, Catch::Contains("# TYPE posthog_plugin_duration_seconds histogram"));
  CHECK_THAT(text, Catch::Contains("posthog_worker_queue_batches{worker=\"0\"}"));
  CHECK_THAT(text, Catch::Contains("posthog_inflight_events "));
}

TEST_CASE("admin: configs and plugin storage survive a restart; a deleted team is gone", "[serve][admin][store]") {
  auto const dir = std::filesystem::temp_directory_path() / ("posthog-restart-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    ServeProcess server(admin_config(), {}, dir);
    Admin admin(server);
    auto r = admin.put("/api/teams/1", {{"token", "phc_one"},
                                        {"plugins", {{{"name", "testkit"}, {"config", {{"label", "persisted"}}}}}}});
    INFO(r->body);
    REQUIRE(r->status == 200);
    r = admin.put("/api/teams/3", {{"token", "phc_three"}, {"plugins", {{{"name", "helloworld"}}}}});
    INFO(r->body);
    REQUIRE(r->status == 200);
    r = admin.put("/api/teams/4", {{"token", "phc_four"}, {"plugins", boost::json::array{}}});
    REQUIRE(r->status == 200);
    CHECK(admin.client.Delete("/api/teams/4")->status == 200);
    post_event(server, {.properties = {{"remember", "kept across restarts"}}});
    REQUIRE(server.stop() == 0);
  }
  {
    ServeProcess server(admin_config(), {}, dir);
    post_event(server, {.properties = {{"recall", true}}});
    CHECK(capture_status(server, {.api_key = "phc_three"}) == 200);
    CHECK(capture_status(server, {.api_key = "phc_four"}) == 401);
    REQUIRE(server.stop() == 0);
    auto events = server.sink_events();
    REQUIRE(events.size() == 3);  // the first run's event, then this run's two
    CHECK(events[1].at("properties").at("recalled") == "kept across restarts");
    CHECK(events[1].at("properties").at("testkit_label") == "persisted");  // the stored config won over the file's
    CHECK(events[2].at("team_id") == 3);
    CHECK(events[2].at("properties").at("hello") == "world");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("admin: deleting a team from the config file lasts across a restart; its token may move",
          "[serve][admin][store]") {
  auto const dir = std::filesystem::temp_directory_path() / ("posthog-delete-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    ServeProcess server(admin_config(), {}, dir);
    Admin admin(server);
    REQUIRE(admin.client.Delete("/api/teams/1")->status == 200);  // team 1 comes from the file
    auto r = admin.put("/api/teams/5", {{"token", "phc_one"}, {"plugins", {{{"name", "helloworld"}}}}});
    REQUIRE(r->status == 200);
    // A new team cannot store the redaction marker as a secret: the marker is dropped.
    r = admin.put("/api/teams/6", {{"token", "phc_six"},
                                   {"plugins", {{{"name", "testkit"}, {"config", {{"label", "x"}, {"api_key", "********"}}}}}}});
    REQUIRE(r->status == 200);
    REQUIRE(server.stop() == 0);
  }
  {
    ServeProcess server(admin_config(), {}, dir);
    Admin admin(server);
    admin.get("/api/teams/1", 404);
    CHECK(capture_status(server, {.api_key = "phc_one"}) == 200);
    CHECK(capture_status(server, {.api_key = "phc_six"}) == 200);
    REQUIRE(server.stop() == 0);
    auto events = server.sink_events();
    REQUIRE(events.size() == 2);
    CHECK(events[0].at("team_id") == 5);  // phc_one is team 5's now
    CHECK(events[0].at("properties").at("hello") == "world");
    CHECK(events[1].at("properties").at("testkit_api_key_length") == 0);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("admin: a plugin whose module was refused is listed, and its config is fully hidden", "[serve][admin]") {
  auto config = admin_config();
  config["plugins"].as_array().push_back(boost::json::object{{"name", "ghost"}, {"file", "/nonexistent/ghost.so"}});
  config["teams"].as_array()[0].as_object()["plugins"].as_array().push_back(
      boost::json::object{{"name", "ghost"}, {"config", {{"password", "hunter2"}}}});
  ServeProcess server(config);
  Admin admin(server);
  auto modules = admin.get("/api/modules");
  REQUIRE(modules.at("load_errors").as_array().size() == 1);
  CHECK(modules.at("load_errors").at(0).at("file") == "/nonexistent/ghost.so");
  CHECK(modules.at("load_errors").at(0).at("step") == "file");
  auto team = admin.get("/api/teams/1");
  CHECK(team.at("plugins").at(1).at("config").at("password") == "********");
  CHECK(admin.client.Get("/api/teams")->body.find("hunter2") == std::string::npos);
  auto ready = admin.get("/_ready");
  CHECK(ready.at("load_errors") == 1);
}

}  // namespace admin_test
