#include <catch2/catch.hpp>
#include <posthog/testing.hpp>

#include "../helloworld.hpp"

using posthog::plugins::HelloWorld;
using posthog::testing::make_event;
using posthog::testing::PluginHarness;

TEST_CASE("helloworld greets every event with the team's bar", "[helloworld]") {
  PluginHarness<HelloWorld> plugin({{"bar", "qux"}});
  auto out = plugin.process_event(make_event("$pageview", {{"$current_url", "http://x"}}));
  REQUIRE(out);
  auto const& props = out->at("properties").as_object();
  CHECK(props.at("hello") == "world");
  CHECK(props.at("bar") == "qux");
  CHECK(props.at("$current_url") == "http://x");  // untouched
}

TEST_CASE("helloworld defaults bar to baz, as its plugin.json says", "[helloworld]") {
  PluginHarness<HelloWorld> plugin;
  CHECK(plugin.process_event(make_event("e"))->at("properties").at("bar") == "baz");
}

TEST_CASE("helloworld counts the team's events in the cache", "[helloworld]") {
  PluginHarness<HelloWorld> plugin;
  for (int i = 0; i < 3; ++i) CHECK(plugin.process_event(make_event("e"))->at("properties").at("$counter") == i);
  CHECK(plugin.cache().get("counter")->as_int64() == 3);
}

TEST_CASE("helloworld creates properties when the event has none", "[helloworld]") {
  PluginHarness<HelloWorld> plugin;
  boost::json::object bare{{"event", "e"}, {"distinct_id", "d"}, {"team_id", 1}};
  CHECK(plugin.process_event(bare)->at("properties").at("hello") == "world");
}

TEST_CASE("helloworld refuses a config with a non-string bar, naming the field", "[helloworld]") {
  try {
    PluginHarness<HelloWorld> plugin({{"bar", 42}});
    FAIL("accepted");
  } catch (const posthog::ConfigError& e) {
    CHECK(e.field() == "bar");
  }
  try {
    PluginHarness<HelloWorld> plugin({{"bra", "typo"}});
    FAIL("accepted");
  } catch (const posthog::ConfigError& e) {
    CHECK(e.field() == "bra");
  }
}
