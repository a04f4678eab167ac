// What the web console relies on, over real HTTP: its files served by the
// server, the session that stands in for the bearer token (cookie, CSRF
// header, sign-out), the security headers on every admin answer, and the
// views only the console asks for (overview, hourly app metrics, health
// history, swap history).
#include <catch2/catch.hpp>
#include <httplib.h>

#include <boost/json.hpp>
#include <string>

#include "serve_process.hpp"

namespace console_api_test {

using posthog::testing::admin_get;
using posthog::testing::post_event;
using posthog::testing::ServeProcess;

namespace {

constexpr const char* token = "console-api-test-token-01";

boost::json::object console_config() {
  return {{"plugins", {posthog::testing::testkit_plugin()}},
          {"teams",
           {boost::json::object{
               {"id", 1},
               {"token", "phc_one"},
               {"plugins", {boost::json::object{{"name", "testkit"}, {"config", {{"label", "console"}}}}}}}}},
          {"serve",
           {{"admin", {{"listen", "127.0.0.1:0"}, {"token", token}, {"max_sessions", 2}}},
            {"health", {{"bucket_tokens", 300}, {"refill_per_second", 0}}}}}};
}

// A browser's view of the admin port: the cookie it was given, and the CSRF
// token the page keeps.
struct Browser {
  httplib::Client client;
  std::string cookie;
  std::string csrf;
  explicit Browser(const ServeProcess& s) : client("127.0.0.1", s.admin_port()) {}

  httplib::Result sign_in(const std::string& with) {
    auto r = client.Post("/api/session", boost::json::serialize(boost::json::object{{"token", with}}),
                         "application/json");
    if (r && r->status == 200) {
      auto const set = r->get_header_value("Set-Cookie");
      cookie = set.substr(0, set.find(';'));
      csrf = std::string(boost::json::parse(r->body).at("csrf_token").as_string());
    }
    return r;
  }
  httplib::Headers headers(bool with_csrf) const {
    httplib::Headers h{{"Cookie", "theme=dark; " + cookie}};
    if (with_csrf) h.emplace("X-CSRF-Token", csrf);
    return h;
  }
};

}  // namespace

TEST_CASE("console: the page and its files are served by the server itself, under a strict CSP",
          "[serve][admin][console]") {
  ServeProcess server(console_config());
  httplib::Client anonymous("127.0.0.1", server.admin_port());
  for (auto const* path : {"/", "/ui/", "/ui/teams/1/plugins/testkit"}) {
    auto r = anonymous.Get(path);
    REQUIRE(r);
    INFO(path);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("Content-Type") == "text/html; charset=utf-8");
    CHECK(r->body.find("<script type=\"module\" src=\"/ui/assets/app.js\"></script>") != std::string::npos);
  }
  auto script = anonymous.Get("/ui/assets/app.js");
  REQUIRE(script);
  CHECK(script->status == 200);
  CHECK(script->get_header_value("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(anonymous.Get("/ui/assets/style.css")->get_header_value("Content-Type") == "text/css; charset=utf-8");
  CHECK(anonymous.Get("/ui/assets/nothing.js")->status == 404);

  // Every answer of the port, a page, a refusal or a probe, carries the policy
  // and grants no other origin anything.
  for (auto const* path : {"/", "/api/teams", "/_health"}) {
    httplib::Headers origin{{"Origin", "https://elsewhere.example"}};
    auto r = anonymous.Get(path, origin);
    REQUIRE(r);
    INFO(path);
    auto const policy = r->get_header_value("Content-Security-Policy");
    CHECK(policy.find("default-src 'self'") != std::string::npos);
    CHECK(policy.find("script-src 'self';") != std::string::npos);
    CHECK(policy.find("frame-ancestors 'none'") != std::string::npos);
    CHECK(r->get_header_value("X-Content-Type-Options") == "nosniff");
    CHECK_FALSE(r->has_header("Access-Control-Allow-Origin"));
  }
}

TEST_CASE("console: the token is exchanged for an HttpOnly SameSite=Strict session; changes need its CSRF token",
          "[serve][admin][console]") {
  ServeProcess server(console_config());
  Browser browser(server);
  auto refused = browser.sign_in("console-api-test-token-0X");
  REQUIRE(refused);
  CHECK(refused->status == 401);
  CHECK_FALSE(refused->has_header("Set-Cookie"));

  auto r = browser.sign_in(token);
  REQUIRE(r);
  REQUIRE(r->status == 200);
  auto const set_cookie = r->get_header_value("Set-Cookie");
  CHECK(set_cookie.rfind("posthog_admin_session=", 0) == 0);
  CHECK(set_cookie.find("; HttpOnly") != std::string::npos);
  CHECK(set_cookie.find("; SameSite=Strict") != std::string::npos);
  CHECK(set_cookie.find("; Path=/") != std::string::npos);
  CHECK(set_cookie.find(token) == std::string::npos);
  CHECK(browser.csrf.size() == 64);

  // Reads need the cookie only; a reload gets the CSRF token back from the session.
  CHECK(browser.client.Get("/api/teams", browser.headers(false))->status == 200);
  auto session = browser.client.Get("/api/session", browser.headers(false));
  CHECK(boost::json::parse(session->body).at("csrf_token").as_string() == browser.csrf);

  // A change with the cookie alone (what a forged cross-site request could at
  // most carry) is refused; with the header it goes through.
  boost::json::object team{{"token", "phc_two"}, {"plugins", boost::json::array{}}};
  auto forged = browser.client.Put("/api/teams/2", browser.headers(false), boost::json::serialize(team), "application/json");
  CHECK(forged->status == 403);
  CHECK(boost::json::parse(forged->body).at("code") == "csrf_token_missing");
  auto wrong = browser.headers(false);
  wrong.emplace("X-CSRF-Token", std::string(64, '0'));
  CHECK(browser.client.Put("/api/teams/2", wrong, boost::json::serialize(team), "application/json")->status == 403);
  CHECK(browser.client.Put("/api/teams/2", browser.headers(true), boost::json::serialize(team), "application/json")
            ->status == 200);

  // The bearer token keeps working without a session or CSRF header.
  httplib::Client api("127.0.0.1", server.admin_port());
  api.set_bearer_token_auth(token);
  CHECK(api.Delete("/api/teams/2")->status == 200);

  // Signing out ends the session for good.
  CHECK(browser.client.Delete("/api/session", browser.headers(false))->status == 403);
  auto out = browser.client.Delete("/api/session", browser.headers(true));
  CHECK(out->status == 200);
  CHECK(out->get_header_value("Set-Cookie").find("Max-Age=0") != std::string::npos);
  auto after = browser.client.Get("/api/teams", browser.headers(false));
  CHECK(after->status == 401);
  CHECK(boost::json::parse(after->body).at("code") == "session_ended");
}

TEST_CASE("console: sessions are bounded: signing in past the bound ends the oldest", "[serve][admin][console]") {
  ServeProcess server(console_config());  // max_sessions 2
  Browser first(server), second(server), third(server);
  REQUIRE(first.sign_in(token)->status == 200);
  REQUIRE(second.sign_in(token)->status == 200);
  REQUIRE(third.sign_in(token)->status == 200);
  CHECK(first.client.Get("/api/teams", first.headers(false))->status == 401);
  CHECK(second.client.Get("/api/teams", second.headers(false))->status == 200);
  CHECK(third.client.Get("/api/teams", third.headers(false))->status == 200);
}

TEST_CASE("console: the overview counts events, app metrics keep the hour's calls, health keeps its transitions",
          "[serve][admin][console]") {
  ServeProcess server(console_config());
  for (int i = 0; i < 2; ++i) post_event(server, {.properties = {{"n", i}}});
  for (int i = 0; i < 3; ++i) post_event(server, {.properties = {{"throw", true}}});
  posthog::testing::wait_until([&] { return server.sink_events().size() == 5; }, "the five events in the sink");

  auto overview = admin_get(server, token, "/api/overview");
  CHECK(overview.at("events").at("in") == 5);
  CHECK(overview.at("events").at("out") == 5);
  CHECK(overview.at("refused_503") == 0);
  auto const& teams = overview.at("teams").as_array();
  REQUIRE(teams.size() == 1);
  CHECK(teams[0].at("team_id") == 1);
  std::uint64_t calls = 0;
  for (auto const& c : overview.at("latency").at("counts").as_array()) calls += c.to_number<std::uint64_t>();
  CHECK(calls == 5);  // process_event, whichever bucket each took
  auto const& unhealthy = overview.at("unhealthy").as_array();
  REQUIRE(unhealthy.size() == 1);
  CHECK(unhealthy[0].at("plugin") == "testkit");
  CHECK(unhealthy[0].at("health") == "paused");

  // This hour, the last of the 24: 3 process_event calls threw, 2 did not;
  // on_event also counts for the events that reached it before the pause
  // (how many depends on how the events were batched).
  auto metrics = admin_get(server, token, "/api/teams/1/plugins/testkit/app_metrics");
  auto const& hours = metrics.at("hours").as_array();
  REQUIRE(hours.size() == 24);
  auto const& now = hours.back().as_object();
  CHECK(now.at("failures") == 3);
  CHECK(now.at("successes").to_number<std::uint64_t>() >= 2);
  CHECK(now.at("successes").to_number<std::uint64_t>() <= 7);
  CHECK(now.at("duration_ms").as_double() > 0);
  CHECK(hours.front().at("successes") == 0);

  auto status = admin_get(server, token, "/api/teams/1/plugins/testkit");
  auto const& history = status.at("health").at("history").as_array();
  REQUIRE(history.size() == 2);  // healthy -> degraded -> paused, newest first
  CHECK(history[0].at("to") == "paused");
  CHECK(history[1].at("from") == "healthy");
  CHECK(history[1].at("to") == "degraded");
  CHECK(std::string(history[1].at("reason").as_string()).find("asked to throw") != std::string::npos);
}

}  // namespace console_api_test
