#include <catch2/catch.hpp>
#include <posthog/event.hpp>

#include <boost/json.hpp>

namespace event_test {

using posthog::Event;

TEST_CASE("Event reads PostHog's fields from the object it views", "[sdk][event]") {
  boost::json::object o = boost::json::parse(R"({"uuid": "u-1", "event": "$pageview", "distinct_id": "d-1",
      "team_id": 7, "ip": "1.2.3.4", "site_url": "http://x", "now": "n", "sent_at": "s", "timestamp": "t",
      "properties": {"plan": "pro", "n": 3}, "$set": {"email": "a@b"}})").as_object();
  Event e(o);
  CHECK(e.uuid() == "u-1");
  CHECK(e.name() == "$pageview");
  CHECK(e.distinct_id() == "d-1");
  CHECK(e.team_id() == 7);
  CHECK(e.ip() == "1.2.3.4");
  CHECK(e.site_url() == "http://x");
  CHECK(e.now() == "n");
  CHECK(e.sent_at() == "s");
  CHECK(e.timestamp() == "t");
  CHECK(e.property_string("plan") == "pro");
  CHECK_FALSE(e.property_string("n").has_value());
  CHECK(e.property("missing") == nullptr);
  CHECK(std::as_const(e).set()->at("email") == "a@b");
  CHECK(std::as_const(e).set_once() == nullptr);
}

TEST_CASE("Event writes in place: no copy of the underlying object", "[sdk][event]") {
  boost::json::object o{{"event", "a"}};
  Event e(o);
  e.properties()["hello"] = "world";
  e.set_once()["first"] = true;
  e.set_name("renamed");
  CHECK(&e.raw() == &o);
  CHECK(o.at("properties").at("hello") == "world");
  CHECK(o.at("$set_once").at("first") == true);
  CHECK(o.at("event") == "renamed");
}

TEST_CASE("Event tolerates missing and mistyped fields", "[sdk][event]") {
  boost::json::object o{{"event", 5}, {"properties", "not an object"}, {"team_id", "7"}};
  Event e(o);
  CHECK(e.name().empty());
  CHECK_FALSE(e.team_id().has_value());
  CHECK(std::as_const(e).properties() == nullptr);
  e.properties()["x"] = 1;  // replaces the malformed value with an object
  CHECK(o.at("properties").as_object().size() == 1);
}

}  // namespace event_test
