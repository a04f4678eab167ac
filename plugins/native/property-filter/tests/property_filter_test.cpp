#include <catch2/catch.hpp>
#include <posthog/testing.hpp>

#include "../property_filter.hpp"

using posthog::plugins::PropertyFilter;
using posthog::testing::make_event;
using posthog::testing::PluginHarness;

namespace {
boost::json::object sample() {
  auto e = make_event("$pageview", boost::json::parse(R"({
      "name": "Mr. Hog", "gender": "male", "email": "hog@example.com",
      "$set": {"age": 35, "pet": "dog", "email": "hog@example.com"},
      "foo": {"bar": {"baz": {"one": "one", "two": "two"}}}})").as_object());
  e["$set"] = {{"email", "hog@example.com"}, {"plan", "free"}};
  e["$set_once"] = {{"email", "first@example.com"}};
  return e;
}
}  // namespace

TEST_CASE("property-filter removes top-level and nested properties", "[property-filter]") {
  PluginHarness<PropertyFilter> plugin({{"properties", "gender,$set.age,foo.bar.baz.one,nonExisting"}});
  auto out = *plugin.process_event(sample());
  auto const& p = out.at("properties").as_object();
  CHECK_FALSE(p.contains("gender"));
  CHECK_FALSE(p.at("$set").as_object().contains("age"));
  CHECK_FALSE(p.at("foo").at("bar").at("baz").as_object().contains("one"));
  CHECK(p.at("name") == "Mr. Hog");
  CHECK(p.at("$set").at("pet") == "dog");
  CHECK(p.at("foo").at("bar").at("baz").at("two") == "two");
}

TEST_CASE("property-filter removes $set paths from the event's own person updates too", "[property-filter]") {
  PluginHarness<PropertyFilter> plugin({{"properties", " email , $set.email,$set_once.email "}});
  auto out = *plugin.process_event(sample());
  CHECK_FALSE(out.at("properties").as_object().contains("email"));
  CHECK_FALSE(out.at("properties").at("$set").as_object().contains("email"));
  CHECK_FALSE(out.at("$set").as_object().contains("email"));
  CHECK(out.at("$set").at("plan") == "free");
  CHECK_FALSE(out.at("$set_once").as_object().contains("email"));
}

TEST_CASE("property-filter's $ip also removes the event's ip", "[property-filter]") {
  PluginHarness<PropertyFilter> plugin({{"properties", "$ip"}});
  auto e = make_event("e", {{"$ip", "81.2.69.142"}});
  auto out = *plugin.process_event(e);
  CHECK_FALSE(out.contains("ip"));
  CHECK_FALSE(out.at("properties").as_object().contains("$ip"));
  CHECK(out.at("distinct_id") == e.at("distinct_id"));
}

TEST_CASE("property-filter leaves events with odd shapes as they are", "[property-filter]") {
  PluginHarness<PropertyFilter> plugin({{"properties", "a.b.c,x"}});
  auto e = make_event("e", {{"a", "not an object"}, {"keep", 1}});
  CHECK(*plugin.process_event(e) == e);
  boost::json::object no_props{{"event", "e"}, {"distinct_id", "d"}, {"team_id", 1}, {"properties", "text"}};
  CHECK(*plugin.process_event(no_props) == no_props);
}

TEST_CASE("property-filter refuses a config that names nothing, naming the field", "[property-filter][config]") {
  for (auto bad : {"", " , ,", "a..b", ".a", "a."}) {
    CAPTURE(bad);
    try {
      PluginHarness<PropertyFilter> plugin({{"properties", bad}});
      FAIL("accepted");
    } catch (const posthog::ConfigError& e) {
      CHECK_THAT(e.what(), Catch::Contains("'properties'"));
    }
  }
  CHECK_THROWS_AS(PluginHarness<PropertyFilter>({{"properties", 3}}), posthog::ConfigError);
  CHECK_THROWS_AS(PluginHarness<PropertyFilter>(boost::json::object{}), posthog::ConfigError);  // required
}

TEST_CASE("property-filter's team copy is small and cannot fail", "[property-filter][memory]") {
  STATIC_REQUIRE(posthog::capabilities_of<PropertyFilter>() & POSTHOG_CAP_PROCESS_EVENT_NOEXCEPT);
  STATIC_REQUIRE(sizeof(PropertyFilter) <= 40);
}
