// export_events in the real server: events that reached the sink are handed
// to testkit's export_events; while it answers RetryError they wait in the
// store, and a crash (SIGKILL) in that state loses none of them.
#include <catch2/catch.hpp>
#include <httplib.h>

#include <boost/json.hpp>
#include <map>
#include <thread>

#include "serve_process.hpp"
#include "test_receiver.hpp"

namespace export_test {

using posthog::testing::post_batch;
using posthog::testing::post_event;
using posthog::testing::ServeProcess;
using posthog::testing::wait_until;

namespace {

constexpr const char* admin_token = "export-test-admin-token-0123456789";

boost::json::object export_config(const std::string& label) {
  return {{"plugins", {posthog::testing::testkit_plugin()}},
          {"teams", {boost::json::object{{"id", 1}, {"token", "phc_one"},
                                         {"plugins", {boost::json::object{{"name", "testkit"},
                                                                          {"config", {{"label", label}}}}}}}}},
          {"serve", {{"store", "store.db"},
                     {"exports", {{"buffer_seconds", 1}, {"retry_base_seconds", 1}}},
                     {"admin", {{"listen", "127.0.0.1:0"}, {"token", admin_token}}}}}};
}

boost::json::object admin_get(const ServeProcess& s, const std::string& path) {
  return posthog::testing::admin_get(s, admin_token, path);
}

// Seqs in testkit's "exported a,b,c" log lines, with how often each was seen.
std::map<std::int64_t, int> exported(const ServeProcess& s) {
  std::map<std::int64_t, int> seen;
  httplib::Client c("127.0.0.1", s.admin_port());
  c.set_bearer_token_auth(admin_token);
  auto r = c.Get("/api/teams/1/plugins/testkit/logs?limit=1000");
  REQUIRE(r);
  auto const body = boost::json::parse(r->body);  // kept: the loop reads into it
  for (auto const& line : body.at("logs").as_array()) {
    std::string const message(line.at("message").as_string());
    if (message.rfind("exported ", 0) != 0) continue;
    std::size_t start = 9;
    for (auto comma = message.find(',', start);; comma = message.find(',', start)) {
      ++seen[std::stoll(message.substr(start, comma - start))];
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return seen;
}


}  // namespace

TEST_CASE("exports: retried batches and pending events survive SIGKILL and reach the plugin after restart",
          "[serve][exports]") {
  auto const dir = std::filesystem::temp_directory_path() / ("posthog-export-crash-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  constexpr int events = 400;
  {
    ServeProcess server(export_config("exports down"), {}, dir);
    auto send = [&](int b) {  // a batch of 100: seq b * 100 ...
      boost::json::array batch;
      for (int i = 0; i < 100; ++i)
        batch.push_back(boost::json::object{{"event", "e"}, {"distinct_id", "d"}, {"properties", {{"seq", b * 100 + i}}}});
      post_batch(server, std::move(batch));
    };
    for (int b = 0; b < 3; ++b) send(b);
    // Those three batches queued, cut and refused with RetryError: waiting for a retry.
    wait_until([&] {
      auto const s = admin_get(server, "/api/teams/1/plugins/testkit/exports");
      return s.at("events_seen").to_number<int>() == 300 && s.at("retry_errors").to_number<int>() >= 1;
    }, "the events were queued and a RetryError came back");
    send(3);  // and these still pending (younger than the 1 s buffer) when the server dies
    wait_until([&] {
      return admin_get(server, "/api/teams/1/plugins/testkit/exports").at("events_seen").to_number<int>() == events;
    }, "the last events were queued");
    auto const before = admin_get(server, "/api/teams/1/plugins/testkit/exports");
    CHECK(before.at("events_delivered").to_number<int>() == 0);
    server.kill_hard();
  }
  {
    ServeProcess server(export_config("one"), {}, dir);  // the receiver is back
    wait_until([&] { return exported(server).size() == events; }, "every event exported after the restart");
    auto const seen = exported(server);
    int duplicates = 0;
    for (auto const& [seq, n] : seen) duplicates += n - 1;
    INFO(duplicates << " duplicates");
    CHECK(duplicates == 0);  // nothing was being handed over at the kill: RetryError had answered
    auto const after = admin_get(server, "/api/teams/1/plugins/testkit/exports");
    CHECK(after.at("pending_events").to_number<int>() == 0);
    CHECK(after.at("retrying_batches").to_number<int>() == 0);
    CHECK(server.stop() == 0);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("exports: a dead letter is listed and replayed through the admin API", "[serve][exports]") {
  auto config = export_config("exports down");
  config["serve"].as_object()["exports"].as_object()["max_retries"] = 0;  // the first RetryError is the last
  ServeProcess server(config);
  post_event(server, {.properties = {{"seq", 1}}});
  wait_until([&] {
    return admin_get(server, "/api/teams/1/plugins/testkit/exports").at("dead_batches").to_number<int>() == 1;
  }, "the batch became a dead letter");
  auto const status = admin_get(server, "/api/teams/1/plugins/testkit/exports");
  auto const& dead = status.at("dead_letters").as_array();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].at("attempts").to_number<int>() == 1);
  CHECK(std::string(dead[0].at("last_error").as_string()).find("down") != std::string::npos);
  CHECK(status.at("events_undelivered").to_number<int>() == 1);

  httplib::Client admin("127.0.0.1", server.admin_port());
  admin.set_bearer_token_auth(admin_token);
  auto const path = "/api/exports/" + std::to_string(dead[0].at("id").to_number<std::int64_t>()) + "/replay";
  auto replayed = admin.Post(path.c_str(), "", "application/json");
  REQUIRE(replayed);
  CHECK(replayed->status == 200);
  auto again = admin.Post("/api/exports/999999/replay", "", "application/json");
  REQUIRE(again);
  CHECK(again->status == 404);
  // Still down: the replayed batch is refused again and is a dead letter again.
  wait_until([&] {
    return admin_get(server, "/api/teams/1/plugins/testkit/exports").at("retry_errors").to_number<int>() == 2;
  }, "the replay was handed over");
  auto metrics = admin.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("posthog_export_events_total{team=\"1\",plugin=\"testkit\",outcome=\"seen\"} 1") !=
        std::string::npos);
  CHECK(metrics->body.find("posthog_export_dead_batches 1") != std::string::npos);
}

TEST_CASE("exports: webhook-export through the real server reaches a failing receiver once it recovers",
          "[serve][exports]") {
  using posthog::plugins::testing::TestReceiver;
  TestReceiver receiver;
  receiver.answer({500, TestReceiver::drop, 429});  // the first three attempts fail, then it is back
  boost::json::object config{
      {"plugins", {boost::json::object{{"name", "webhook-export"}}}},
      {"teams", {boost::json::object{{"id", 1}, {"token", "phc_one"},
                                     {"plugins", {boost::json::object{{"name", "webhook-export"},
                                                                      {"config", {{"url", receiver.url("/hook")}}}}}}}}},
      {"serve", {{"exports", {{"buffer_seconds", 1}, {"retry_base_seconds", 1}}}}}};
  ServeProcess server(config);
  boost::json::array batch;
  for (int i = 0; i < 50; ++i)
    batch.push_back(boost::json::object{{"event", "e"}, {"distinct_id", "d"}, {"properties", {{"seq", i}}}});
  post_batch(server, std::move(batch));
  std::map<std::int64_t, int> delivered;
  auto count_delivered = [&] {
    delivered.clear();
    for (auto const& request : receiver.requests()) {
      if (request.status != 200) continue;
      auto const body = boost::json::parse(request.body);  // kept: the loop reads into it
      for (auto const& e : body.as_array()) ++delivered[e.at("properties").at("seq").as_int64()];
    }
    return delivered.size();
  };
  wait_until([&] { return count_delivered() == 50; }, "every event reached the receiver");
  auto const requests = receiver.requests();
  REQUIRE(requests.size() >= 4);
  CHECK(requests[0].status == 500);
  CHECK(requests[1].status == TestReceiver::drop);
  CHECK(requests[2].status == 429);
  CHECK(requests[0].body == requests[1].body);  // the same batch, handed over again
  CHECK(requests[1].body == requests[2].body);
  for (auto const& [seq, n] : delivered) CHECK(n == 1);
  CHECK(server.stop() == 0);
}

// PostHog's export options from the team's config (src/worker/vm/upgrades/export-events.ts):
// exportEventsToIgnore's events never reach export_events, and the team's
// exportEventsBufferSeconds wins over the server's bound.
TEST_CASE("exports: a team's exportEventsToIgnore and buffer bounds (export-events.ts)", "[serve][exports]") {
  auto config = export_config("x");
  auto& team_config = config["teams"].as_array()[0].as_object()["plugins"].as_array()[0].as_object()["config"].as_object();
  team_config["exportEventsToIgnore"] = " $pageleave,skip me ,";
  team_config["exportEventsBufferSeconds"] = "1";
  config["serve"].as_object()["exports"].as_object()["buffer_seconds"] = 600;  // the server's would wait 10 minutes
  ServeProcess server(config);
  boost::json::array batch;
  for (auto const& [seq, name] : {std::pair{1, "e"}, std::pair{2, "$pageleave"}, std::pair{3, "skip me"}, std::pair{4, "e"}})
    batch.push_back(boost::json::object{{"event", name}, {"distinct_id", "d"}, {"properties", {{"seq", seq}}}});
  post_batch(server, std::move(batch));
  wait_until([&] { return exported(server).size() == 2; }, "the two events not ignored were exported");
  CHECK(exported(server) == std::map<std::int64_t, int>{{1, 1}, {4, 1}});
  auto const status = admin_get(server, "/api/teams/1/plugins/testkit/exports");
  CHECK(status.at("events_seen").to_number<int>() == 2);  // ignored events are never seen
  auto const plugin = admin_get(server, "/api/teams/1/plugins/testkit");
  CHECK(plugin.at("metrics").at("events_seen").at("value").to_number<int>() == 2);
  CHECK(plugin.at("metrics").at("events_delivered_successfully").at("value").to_number<int>() == 2);
  REQUIRE(server.stop() == 0);
  CHECK(server.sink_events().size() == 4);  // ignored for export only
}

}  // namespace export_test
