// posthog-replicator against a real receiver standing in for another PostHog:
// what it sends to /batch/, what it leaves out, and which failures are retried.
#include <catch2/catch.hpp>
#include <posthog/testing.hpp>

#include <boost/json.hpp>

#include "../posthog_replicator.hpp"
#include "test_receiver.hpp"

using posthog::plugins::PosthogReplicator;
using posthog::plugins::testing::TestReceiver;
using posthog::testing::HookFailed;
using posthog::testing::make_event;
using posthog::testing::PluginHarness;

namespace {

boost::json::object captured_event(std::string name, int seq) {
  auto e = make_event(std::move(name), {{"seq", seq}}, "user-1");
  e["team_id"] = 7;
  e["ip"] = "203.0.113.9";
  e["now"] = "2026-11-24T10:00:00.000Z";
  e["sent_at"] = "2026-11-24T10:00:00.000Z";
  e["api_key"] = "phc_source";
  e["person"] = boost::json::object{{"id", "p"}};
  return e;
}

}  // namespace

TEST_CASE("posthog-replicator posts to the other instance's /batch/ under its project key", "[posthog-replicator]") {
  TestReceiver receiver;
  PluginHarness<PosthogReplicator> plugin({{"host", receiver.url()}, {"project_api_key", "phc_replica"}});
  plugin.export_events({captured_event("$pageview", 1), captured_event("signed_up", 2)});
  auto const received = receiver.requests();
  REQUIRE(received.size() == 1);
  CHECK(received[0].path == "/batch/");
  auto const body = boost::json::parse(received[0].body).as_object();
  CHECK(body.at("api_key") == "phc_replica");
  auto const& batch = body.at("batch").as_array();
  REQUIRE(batch.size() == 2);
  auto const& e = batch[0].as_object();
  CHECK(e.at("event") == "$pageview");
  CHECK(e.at("distinct_id") == "user-1");
  CHECK(e.at("properties").at("seq") == 1);
  CHECK(e.at("properties").at("$ip") == "203.0.113.9");  // the client's address, not the replicator's
  for (auto const* gone : {"team_id", "ip", "now", "sent_at", "api_key", "person"}) CHECK_FALSE(e.contains(gone));
}

TEST_CASE("posthog-replicator skips ignored events and replicates on request", "[posthog-replicator]") {
  TestReceiver receiver;
  PluginHarness<PosthogReplicator> plugin({{"host", receiver.url()},
                                           {"project_api_key", "phc_replica"},
                                           {"events_to_ignore", " $pageleave , $autocapture"},
                                           {"replication", "3"}});
  plugin.export_events({captured_event("$pageleave", 1), captured_event("signed_up", 2),
                        captured_event("$autocapture", 3)});
  auto const received = receiver.requests();
  REQUIRE(received.size() == 1);
  auto const batch = boost::json::parse(received[0].body).at("batch").as_array();
  REQUIRE(batch.size() == 3);
  for (auto const& e : batch) CHECK(e.at("event") == "signed_up");
  plugin.export_events({captured_event("$pageleave", 4)});  // nothing left to send: no request
  CHECK(receiver.requests().size() == 1);
}

TEST_CASE("posthog-replicator: 5xx and 429 are retried, other 4xx are not", "[posthog-replicator]") {
  TestReceiver receiver;
  PluginHarness<PosthogReplicator> plugin({{"host", receiver.url()}, {"project_api_key", "phc_replica"}});
  receiver.answer({502, 429, 401});
  auto outcome = [&] {
    try {
      plugin.export_events({captured_event("e", 1)});
      return std::string("ok");
    } catch (const HookFailed& e) {
      return std::string(e.retry ? "retry" : "failed");
    }
  };
  CHECK(outcome() == "retry");
  CHECK(outcome() == "retry");
  CHECK(outcome() == "failed");
  CHECK(outcome() == "ok");
}

TEST_CASE("posthog-replicator: a bare host means https, a bad config names its field", "[posthog-replicator]") {
  PluginHarness<PosthogReplicator> bare({{"host", "eu.i.posthog.com"}, {"project_api_key", "phc_x"}});
  auto field_of = [](boost::json::object config) {
    try {
      PluginHarness<PosthogReplicator> plugin(std::move(config));
    } catch (const posthog::ConfigError& e) {
      return e.field();
    }
    return std::string("(accepted)");
  };
  CHECK(field_of({{"host", "ftp://x"}, {"project_api_key", "k"}}) == "host");
  CHECK(field_of({{"host", "x"}, {"project_api_key", "k"}, {"replication", "0"}}) == "replication");
  CHECK(field_of({{"host", "x"}, {"project_api_key", "k"}, {"replication", "11"}}) == "replication");
}
