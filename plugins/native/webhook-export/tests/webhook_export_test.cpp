// webhook-export against a real receiver on loopback: the body and headers it
// gets, and which failures ask the server to retry.
#include <catch2/catch.hpp>
#include <posthog/testing.hpp>

#include <boost/json.hpp>

#include "../webhook_export.hpp"
#include "test_receiver.hpp"

using posthog::plugins::WebhookExport;
using posthog::plugins::testing::TestReceiver;
using posthog::testing::HookFailed;
using posthog::testing::make_event;
using posthog::testing::PluginHarness;

namespace {

std::vector<boost::json::object> events(int n) {
  std::vector<boost::json::object> out;
  for (int i = 0; i < n; ++i) out.push_back(make_event("e", {{"seq", i}}, "user-" + std::to_string(i)));
  return out;
}

// How export_events ended: "ok", "retry" (RetryError) or "failed" (anything else).
std::string outcome(PluginHarness<WebhookExport>& plugin, int n = 2) {
  try {
    plugin.export_events(events(n));
    return "ok";
  } catch (const HookFailed& e) {
    return e.retry ? "retry" : "failed";
  }
}

}  // namespace

TEST_CASE("webhook-export POSTs the batch as a JSON array with the configured headers", "[webhook-export]") {
  TestReceiver receiver;
  PluginHarness<WebhookExport> plugin(
      {{"url", receiver.url("/hooks/posthog")}, {"headers", R"({"Authorization": "Bearer sekrit", "X-Team": "7"})"}});
  CHECK(outcome(plugin, 3) == "ok");
  auto const received = receiver.requests();
  REQUIRE(received.size() == 1);
  CHECK(received[0].path == "/hooks/posthog");
  auto const body = boost::json::parse(received[0].body).as_array();
  REQUIRE(body.size() == 3);
  CHECK(body[2].at("properties").at("seq") == 2);
  CHECK(body[2].at("distinct_id") == "user-2");
  CHECK(received[0].headers.find("Authorization")->second == "Bearer sekrit");
  CHECK(received[0].headers.find("X-Team")->second == "7");
  CHECK(received[0].headers.find("Content-Type")->second == "application/json");
}

TEST_CASE("webhook-export: 5xx, 429 and network errors are retried, other 4xx are not", "[webhook-export]") {
  TestReceiver receiver;
  PluginHarness<WebhookExport> plugin({{"url", receiver.url("/hook")}});
  receiver.answer({500, 503, 429, TestReceiver::drop, 400, 404});
  CHECK(outcome(plugin) == "retry");
  CHECK(outcome(plugin) == "retry");
  CHECK(outcome(plugin) == "retry");
  CHECK(outcome(plugin) == "retry");  // the connection was cut mid-answer
  CHECK(outcome(plugin) == "failed");
  CHECK(outcome(plugin) == "failed");
  CHECK(outcome(plugin) == "ok");
  CHECK(receiver.requests().size() == 7);

  // Nobody listening: refused, retried.
  int closed_port = 0;
  {
    TestReceiver gone;
    closed_port = gone.port();
  }
  PluginHarness<WebhookExport> nowhere({{"url", "http://127.0.0.1:" + std::to_string(closed_port) + "/hook"}});
  CHECK(outcome(nowhere) == "retry");
}

TEST_CASE("webhook-export: a receiver slower than the timeout is retried", "[webhook-export]") {
  TestReceiver receiver;
  receiver.delay(std::chrono::milliseconds(2500));
  PluginHarness<WebhookExport> plugin({{"url", receiver.url("/slow")}, {"timeout_seconds", "1"}});
  CHECK(outcome(plugin) == "retry");
}

TEST_CASE("webhook-export refuses a config it cannot use, naming the field", "[webhook-export]") {
  auto field_of = [](boost::json::object config) {
    try {
      PluginHarness<WebhookExport> plugin(std::move(config));
    } catch (const posthog::ConfigError& e) {
      return e.field();
    }
    return std::string("(accepted)");
  };
  CHECK(field_of({{"url", "ftp://example.com"}}) == "url");
  CHECK(field_of({{"url", "example.com/hook"}}) == "url");
  CHECK(field_of({{"url", "http://"}}) == "url");
  CHECK(field_of({{"url", "http://127.0.0.1:1/x"}, {"headers", R"(["a"])"}}) == "headers");
  CHECK(field_of({{"url", "http://127.0.0.1:1/x"}, {"headers", R"({"a": 1})"}}) == "headers");
  CHECK(field_of({{"url", "http://127.0.0.1:1/x"}, {"timeout_seconds", "0"}}) == "timeout_seconds");
  CHECK(field_of({{"url", "http://127.0.0.1:1/x"}, {"timeout_seconds", "soon"}}) == "timeout_seconds");
  CHECK(field_of({{"url", "https://example.com"}}) == "(accepted)");
}
