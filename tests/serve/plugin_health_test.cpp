// Plugin health and chain bookkeeping through the real server: a plugin that
// keeps failing is paused and skipped (the events go on, recorded as
// deferred), shown in the admin API, /metrics and its log, and enabled again
// by an admin.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <boost/json.hpp>

#include "serve_process.hpp"

namespace plugin_health_test {

using posthog::testing::admin_get;
using posthog::testing::post_event;
using posthog::testing::ServeProcess;

namespace {

constexpr const char* token = "test-admin-token-0123456789";

std::vector<std::string> list(const boost::json::object& event, const char* key) {
  std::vector<std::string> out;
  for (auto const& v : event.at("properties").at(key).as_array()) out.emplace_back(v.as_string());
  return out;
}

// Team 1 runs testkit (with `label`) then helloworld; the admin API is open and
// `serve` adds to the serve section.
boost::json::object testkit_then_helloworld(const char* label, boost::json::object serve) {
  serve["admin"] = {{"listen", "127.0.0.1:0"}, {"token", token}};
  return {{"plugins",
           {posthog::testing::testkit_plugin(),
            boost::json::object{{"name", "helloworld"}}}},
          {"teams",
           {boost::json::object{{"id", 1},
                                {"token", "phc_one"},
                                {"plugins",
                                 {boost::json::object{{"name", "testkit"}, {"config", {{"label", label}}}},
                                  boost::json::object{{"name", "helloworld"}}}}}}},
          {"serve", std::move(serve)}};
}

}  // namespace

TEST_CASE("A failing plugin is paused and skipped without losing events, then enabled by an admin",
          "[serve][health]") {
  // Three errors empty the bucket; nothing refills it while the test runs.
  ServeProcess server(testkit_then_helloworld("k", {{"health", {{"bucket_tokens", 300}, {"refill_per_second", 0}}}}));

  for (int i = 0; i < 3; ++i) post_event(server, {.properties = {{"throw", true}, {"n", i}}});
  posthog::testing::wait_until(
      [&] {
        return admin_get(server, token, "/api/teams/1/plugins/testkit").at("health").at("state") == "paused";
      },
      "testkit paused after three errors");
  for (int i = 3; i < 8; ++i) post_event(server, {.properties = {{"n", i}}});
  // All eight through the chain while paused (a 200 means in the log, not yet processed).
  posthog::testing::wait_until([&] { return server.sink_events().size() == 8; }, "the eight events in the sink");

  auto status = admin_get(server, token, "/api/teams/1/plugins/testkit");
  CHECK(status.at("identifier") == "testkit (1)");
  CHECK(status.at("serving") == true);
  auto const& health = status.at("health").as_object();
  CHECK(health.at("tokens").as_double() == -1);
  CHECK_FALSE(health.at("paused_until").is_null());
  CHECK(health.at("last_transition").at("to") == "paused");
  CHECK(std::string(health.at("last_transition").at("reason").as_string())
            .find("process_event threw std::runtime_error: asked to throw") == 0);
  auto const team = admin_get(server, token, "/api/teams/1");
  CHECK(team.at("plugins").at(0).at("status").at("health") == "paused");
  CHECK(team.at("plugins").at(1).at("status").at("health") == "healthy");

  httplib::Client admin("127.0.0.1", server.admin_port());
  admin.set_bearer_token_auth(token);
  auto metrics = admin.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("posthog_plugin_health_state{team=\"1\",plugin=\"testkit\"} 2") != std::string::npos);
  CHECK(metrics->body.find("posthog_plugin_health_transitions_total{to=\"paused\"} 1") != std::string::npos);
  auto logs = admin_get(server, token, "/api/teams/1/plugins/testkit/logs");
  bool logged = false;
  for (auto const& l : logs.at("logs").as_array())
    logged = logged || std::string(l.at("message").as_string()).find("health: degraded -> paused") == 0;
  CHECK(logged);

  auto enabled = admin.Post("/api/teams/1/plugins/testkit/enable");
  REQUIRE(enabled);
  CHECK(enabled->status == 200);
  CHECK(boost::json::parse(enabled->body).at("health").at("state") == "healthy");
  post_event(server, {.properties = {{"n", 8}}});
  // The team's log, every plugin merged, warnings and worse: the way down, not the way back.
  auto const team_log = admin_get(server, token, "/api/teams/1/logs?level=warn").at("logs").as_array();
  std::vector<std::string> health_lines;
  for (auto const& l : team_log) {
    CHECK(l.at("level") != "info");
    std::string const m(l.at("message").as_string());
    if (m.rfind("health: ", 0) == 0) health_lines.push_back(std::string(l.at("plugin").as_string()) + " " + m.substr(0, m.find(':', 8)));
  }
  CHECK(health_lines == std::vector<std::string>{"testkit health: degraded -> paused", "testkit health: healthy -> degraded"});
  bool recovered = false;
  auto const all_logs = admin_get(server, token, "/api/teams/1/logs");  // kept: the loop reads into it
  for (auto const& l : all_logs.at("logs").as_array())
    recovered = recovered || std::string(l.at("message").as_string()).rfind("health: paused -> healthy", 0) == 0;
  CHECK(recovered);

  REQUIRE(server.stop() == 0);
  auto const events = server.sink_events();
  REQUIRE(events.size() == 9);  // none lost
  for (int i = 0; i < 3; ++i) {
    CHECK(list(events[i], "$plugins_failed") == std::vector<std::string>{"testkit (1)"});
    CHECK(list(events[i], "$plugins_succeeded") == std::vector<std::string>{"helloworld (1)"});
  }
  for (int i = 3; i < 8; ++i) {
    INFO("event " << i);
    CHECK(events[i].at("properties").at("n") == i);
    CHECK_FALSE(events[i].at("properties").as_object().contains("testkit_label"));
    CHECK(events[i].at("properties").at("hello") == "world");
    CHECK(list(events[i], "$plugins_succeeded") == std::vector<std::string>{"helloworld (1)"});
    CHECK(list(events[i], "$plugins_deferred") == std::vector<std::string>{"testkit (1)"});
  }
  CHECK(events[8].at("properties").at("testkit_label") == "k");
  CHECK(list(events[8], "$plugins_succeeded") == std::vector<std::string>{"testkit (1)", "helloworld (1)"});
}

TEST_CASE("A plugin whose set-up keeps failing is disabled with the reason, and events flow meanwhile",
          "[serve][health][setup]") {
  ServeProcess server(
      testkit_then_helloworld("refuse", {{"setup_retries", {{"max_attempts", 2}, {"retry_base_ms", 50}}}}));

  post_event(server, {.properties = {{"n", 0}}});
  posthog::testing::wait_until(
      [&] { return admin_get(server, token, "/api/teams/1/plugins/testkit").at("setup").at("state") == "failed"; },
      "the set-up given up after two attempts");
  auto status = admin_get(server, token, "/api/teams/1/plugins/testkit");
  CHECK(status.at("serving") == false);
  CHECK(status.at("setup").at("failed_attempts") == 2);
  CHECK(std::string(status.at("setup").at("last_error").as_string()).find("label 'refuse' makes setup_team throw") !=
        std::string::npos);
  CHECK(admin_get(server, token, "/api/teams/1").at("plugins").at(0).at("status").at("setup") == "failed");
  CHECK(admin_get(server, token, "/api/modules").at("load_errors").as_array().empty());  // not a refusal
  post_event(server, {.properties = {{"n", 1}}});

  httplib::Client admin("127.0.0.1", server.admin_port());
  admin.set_bearer_token_auth(token);
  auto metrics = admin.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("posthog_plugin_setup_pending{team=\"1\",plugin=\"testkit\"} 2") != std::string::npos);
  auto enabled = admin.Post("/api/teams/1/plugins/testkit/enable");
  REQUIRE(enabled);
  CHECK(enabled->status == 200);
  CHECK(boost::json::parse(enabled->body).at("setup").at("state") != "failed");  // a new series started

  REQUIRE(server.stop() == 0);
  auto const events = server.sink_events();
  REQUIRE(events.size() == 2);
  for (auto const& e : events) {
    CHECK(e.at("properties").at("hello") == "world");
    CHECK(list(e, "$plugins_succeeded") == std::vector<std::string>{"helloworld (1)"});
    CHECK(list(e, "$plugins_deferred") == std::vector<std::string>{"testkit (1)"});
  }
}

}  // namespace plugin_health_test
