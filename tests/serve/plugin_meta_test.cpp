// The rest of PostHog's meta through the real server: declared metrics
// (extensions/metrics.ts) per team in the admin API and /metrics, and config
// attachments (posthog_pluginattachment) uploaded through the admin API, kept
// in the store across a restart, and read by the plugin at set-up.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <boost/json.hpp>
#include <filesystem>

#include "serve_process.hpp"

namespace plugin_meta_test {

using posthog::testing::admin_get;
using posthog::testing::post_event;
using posthog::testing::ServeProcess;

namespace {

constexpr const char* token = "test-admin-token-0123456789";

boost::json::object config() {
  return {{"plugins",
           {posthog::testing::testkit_plugin()}},
          {"teams",
           {boost::json::object{{"id", 1},
                                {"token", "phc_one"},
                                {"plugins", {boost::json::object{{"name", "testkit"}, {"config", {{"label", "k"}}}}}}}}},
          {"serve", {{"admin", {{"listen", "127.0.0.1:0"}, {"token", token}}}, {"store", "store.db"}}}};
}

}  // namespace

TEST_CASE("Declared metrics are kept per team and shown in the admin API and /metrics (metrics.ts)",
          "[serve][metrics]") {
  ServeProcess server(config());
  for (auto const& props : {boost::json::object{{"metric_sum", 2}}, boost::json::object{{"metric_sum", 3.5}},
                            boost::json::object{{"metric_max", 10}}, boost::json::object{{"metric_max", 4}},
                            boost::json::object{{"metric_min", 5}}, boost::json::object{{"metric_min", 7}},
                            boost::json::object{{"wrong_metric", true}}})
    post_event(server, {.properties = props});
  // All seven events processed: the last one's error is recorded.
  posthog::testing::wait_until(
      [&] { return !admin_get(server, token, "/api/teams/1/plugins/testkit/errors").at("errors").as_array().empty(); },
      "the metrics were updated");
  auto const metrics = admin_get(server, token, "/api/teams/1/plugins/testkit").at("metrics").as_object();
  CHECK(metrics.at("events").at("kind") == "sum");
  CHECK(metrics.at("events").at("value").to_number<double>() == 5.5);
  CHECK(metrics.at("largest").at("value").to_number<double>() == 10);
  CHECK(metrics.at("smallest").at("value").to_number<double>() == 5);

  httplib::Client admin("127.0.0.1", server.admin_port());
  admin.set_bearer_token_auth(token);
  auto text = admin.Get("/metrics");
  REQUIRE(text);
  CHECK(text->body.find("posthog_plugin_metric{team=\"1\",plugin=\"testkit\",metric=\"events\",kind=\"sum\"} 5.5") !=
        std::string::npos);
  CHECK(text->body.find("posthog_plugin_metric{team=\"1\",plugin=\"testkit\",metric=\"largest\",kind=\"max\"} 10") !=
        std::string::npos);
  // increment() on a max: an error with the event that caused it; the event went on.
  auto const errors = admin_get(server, token, "/api/teams/1/plugins/testkit/errors").at("errors").as_array();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].at("kind") == "std::invalid_argument");
  CHECK(std::string(errors[0].at("message").as_string()).find("declared with another kind") != std::string::npos);
  REQUIRE(server.stop() == 0);
  CHECK(server.sink_events().size() == 7);
}

TEST_CASE("An attachment uploaded through the admin API reaches the plugin, and survives a restart",
          "[serve][attachments]") {
  auto const dir = std::filesystem::temp_directory_path() / ("posthog-attachments-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::string const bytes("a\0b\nc\xff", 6);  // binary: a NUL, a newline, a byte that is not UTF-8
  {
    ServeProcess server(config(), {}, dir);
    httplib::Client admin("127.0.0.1", server.admin_port());
    admin.set_bearer_token_auth(token);
    auto put = admin.Put("/api/teams/1/plugins/testkit/attachments/file?file_name=rates%20v2.bin", bytes,
                         "application/x-rates");
    REQUIRE(put);
    REQUIRE(put->status == 200);
    auto const answer = boost::json::parse(put->body);
    CHECK(answer.at("attachment").at("size") == 6);
    CHECK(answer.at("attachment").at("file_name") == "rates v2.bin");

    auto const meta = admin_get(server, token, "/api/teams/1/plugins/testkit/attachments/file");
    CHECK(meta.at("content_type") == "application/x-rates");
    CHECK_FALSE(meta.contains("contents"));  // the bytes are never read back through the API
    CHECK(admin_get(server, token, "/api/teams/1/plugins/testkit").at("attachments").at("file").at("size") == 6);
    auto unknown = admin.Put("/api/teams/1/plugins/testkit/attachments/label", "x", "text/plain");
    REQUIRE(unknown);
    CHECK(unknown->status == 404);  // a field, but not an attachment
    auto no_team = admin.Put("/api/teams/2/plugins/testkit/attachments/file", "x", "text/plain");
    REQUIRE(no_team);
    CHECK(no_team->status == 404);
    post_event(server, {.properties = {{"n", 1}}});
    REQUIRE(server.stop() == 0);
  }
  {
    ServeProcess server(config(), {}, dir);  // a restart: the store still has it
    post_event(server, {.properties = {{"n", 2}}});
    // Through the chain before the attachment goes (a 200 means in the log, not yet processed).
    posthog::testing::wait_until([&] { return server.sink_events().size() == 2; }, "event 2 to reach the sink");
    httplib::Client admin("127.0.0.1", server.admin_port());
    admin.set_bearer_token_auth(token);
    auto removed = admin.Delete("/api/teams/1/plugins/testkit/attachments/file");
    REQUIRE(removed);
    CHECK(removed->status == 200);
    post_event(server, {.properties = {{"n", 3}}});
    REQUIRE(server.stop() == 0);
    auto const events = server.sink_events();
    REQUIRE(events.size() == 3);
    for (int i = 0; i < 2; ++i) {
      INFO("event " << i);
      auto const& file = events[i].at("properties").at("testkit_file");
      CHECK(file.at("file_name") == "rates v2.bin");
      CHECK(file.at("content_type") == "application/x-rates");
      CHECK(file.at("size") == 6);
      CHECK(file.at("hex") == "6100620a63ff");  // every byte as uploaded
    }
    CHECK_FALSE(events[2].at("properties").as_object().contains("testkit_file"));  // deleted: set up without it
  }
  std::filesystem::remove_all(dir);
}

}  // namespace plugin_meta_test
