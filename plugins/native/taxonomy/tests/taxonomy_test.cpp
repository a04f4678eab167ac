#include <catch2/catch.hpp>
#include <posthog/testing.hpp>

#include "../taxonomy.hpp"

using posthog::plugins::Taxonomy;
using posthog::plugins::taxonomy::restyle;
using posthog::plugins::taxonomy::Style;
using posthog::testing::make_event;
using posthog::testing::PluginHarness;

namespace {
std::string renamed(const char* style, const char* name) {
  PluginHarness<Taxonomy> plugin({{"defaultNamingConvention", style}});
  return std::string(plugin.process_event(make_event(name))->at("event").as_string());
}
}  // namespace

TEST_CASE("taxonomy rewrites names into each convention", "[taxonomy]") {
  for (auto input : {"user_signed_up", "userSignedUp", "UserSignedUp", "User Signed Up", "user-signed-up",
                     "USER_SIGNED_UP", "  user   signed__up "}) {
    CAPTURE(input);
    CHECK(renamed("camelCase", input) == "userSignedUp");
    CHECK(renamed("PascalCase", input) == "UserSignedUp");
    CHECK(renamed("snake_case", input) == "user_signed_up");
    CHECK(renamed("kebab-case", input) == "user-signed-up");
    CHECK(renamed("spaces in between", input) == "user signed up");
    CHECK(renamed("Title Case", input) == "User Signed Up");
  }
}

TEST_CASE("taxonomy fixes what PostHog's regular expressions mangled", "[taxonomy]") {
  // PostHog gave "user Logged In" and "user _logged _in" for these.
  CHECK(renamed("camelCase", "User Logged In") == "userLoggedIn");
  CHECK(renamed("snake_case", "User Logged In") == "user_logged_in");
  CHECK(renamed("kebab-case", "User Logged In") == "user-logged-in");
}

TEST_CASE("taxonomy keeps acronyms, digits and non-ASCII text in their words", "[taxonomy]") {
  CHECK(restyle("HTTPRequestSent", Style::snake) == "http_request_sent");
  CHECK(restyle("checkout2Completed", Style::kebab) == "checkout2-completed");
  CHECK(restyle("step 3 done", Style::camel) == "step3Done");
  CHECK(restyle("café_ouvert", Style::pascal) == "CaféOuvert");
  CHECK(restyle("___", Style::camel) == "___");
}

TEST_CASE("taxonomy leaves PostHog's own events alone", "[taxonomy]") {
  for (auto name : {"$pageview", "$autocapture", "$feature_flag_called", "survey shown", "survey sent",
                    "survey dismissed"}) {
    CAPTURE(name);
    CHECK(renamed("snake_case", name) == name);
  }
}

TEST_CASE("taxonomy changes nothing but the name", "[taxonomy]") {
  PluginHarness<Taxonomy> plugin;  // camelCase by default
  auto e = make_event("order_completed", {{"foo", "bar"}});
  auto out = *plugin.process_event(e);
  CHECK(out.at("event") == "orderCompleted");
  out["event"] = "order_completed";
  CHECK(out == e);
  boost::json::object nameless{{"distinct_id", "d"}, {"team_id", 1}, {"event", 7}};
  CHECK(*plugin.process_event(nameless) == nameless);
  REQUIRE(plugin.logs().size() == 1);
  CHECK_THAT(plugin.logs()[0].message, Catch::Contains("no name"));
}

TEST_CASE("taxonomy refuses an unknown convention, naming the field", "[taxonomy][config]") {
  try {
    PluginHarness<Taxonomy> plugin({{"defaultNamingConvention", "SCREAMING_CASE"}});
    FAIL("accepted");
  } catch (const posthog::ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains("defaultNamingConvention"));
  }
  STATIC_REQUIRE(sizeof(Taxonomy) == 1);
}
