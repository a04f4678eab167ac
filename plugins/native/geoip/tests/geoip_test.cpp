// The GeoIP plugin against real MaxMind-format databases: MaxMind's own test
// database (GeoIP2 layout) and DB-IP Lite's city database (ip-location-db's flat
// layout), both installed by scripts/setup.sh.
#include <catch2/catch.hpp>
#include <posthog/testing.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "../geoip.hpp"
#include "../ip_address.hpp"

using posthog::plugins::GeoIp;
using posthog::testing::make_event;
using posthog::testing::PluginHarness;

namespace {

boost::json::object settings_for(const char* path) {
  REQUIRE(std::filesystem::exists(path));  // installed by scripts/setup.sh
  return {{"database", path}};
}
boost::json::object maxmind() { return settings_for(POSTHOG_GEOIP_TEST_DATABASE); }

boost::json::object event_from(std::string_view ip, std::string_view distinct_id = "user-1",
                               std::string_view timestamp = "2026-01-01T00:00:00.000Z") {
  auto e = make_event("$pageview", {{"$current_url", "https://example.com/"}}, distinct_id);
  e["ip"] = ip;
  e["timestamp"] = timestamp;
  return e;
}

}  // namespace

TEST_CASE("geoip enriches an event from its address (MaxMind layout)", "[geoip]") {
  PluginHarness<GeoIp> plugin({}, maxmind());
  auto out = plugin.process_event(event_from("89.160.20.129"));
  REQUIRE(out);
  auto const& p = out->at("properties").as_object();
  CHECK(p.at("$geoip_city_name") == "Linköping");
  CHECK(p.at("$geoip_country_name") == "Sweden");
  CHECK(p.at("$geoip_country_code") == "SE");
  CHECK(p.at("$geoip_continent_name") == "Europe");
  CHECK(p.at("$geoip_continent_code") == "EU");
  CHECK(p.at("$geoip_latitude") == 58.4167);
  CHECK(p.at("$geoip_longitude") == 15.6167);
  CHECK(p.at("$geoip_time_zone") == "Europe/Stockholm");
  CHECK(p.at("$geoip_subdivision_1_code") == "E");
  CHECK(p.at("$geoip_subdivision_1_name") == "Östergötland County");
  CHECK_FALSE(p.contains("$geoip_postal_code"));  // the database has none for it
  CHECK(p.at("$current_url") == "https://example.com/");
}

TEST_CASE("geoip prefers properties.$ip to the event's ip, and reads postal codes", "[geoip]") {
  PluginHarness<GeoIp> plugin({}, maxmind());
  auto e = event_from("89.160.20.129");
  e["properties"].as_object()["$ip"] = "216.160.83.56";
  auto const p = plugin.process_event(e)->at("properties").as_object();
  CHECK(p.at("$geoip_city_name") == "Milton");
  CHECK(p.at("$geoip_country_code") == "US");
  CHECK(p.at("$geoip_continent_name") == "North America");
  CHECK(p.at("$geoip_postal_code") == "98354");
  CHECK(p.at("$geoip_time_zone") == "America/Los_Angeles");
  CHECK(p.at("$geoip_subdivision_1_code") == "WA");
  CHECK(p.at("$geoip_subdivision_1_name") == "Washington");

  // An empty $ip is falsy, as in PostHog: the event's ip is used.
  e["properties"].as_object()["$ip"] = "";
  CHECK(plugin.process_event(e)->at("properties").at("$geoip_city_name") == "Linköping");
}

TEST_CASE("geoip reads IPv6 addresses", "[geoip]") {
  PluginHarness<GeoIp> plugin({}, maxmind());
  auto const p = plugin.process_event(event_from("2001:218::1"))->at("properties").as_object();
  CHECK(p.at("$geoip_country_name") == "Japan");
  CHECK(p.at("$geoip_time_zone") == "Asia/Tokyo");
  // An IPv4-mapped address is its IPv4 address.
  auto const mapped = plugin.process_event(event_from("::ffff:81.2.69.142", "user-2"))->at("properties");
  CHECK(mapped.at("$geoip_city_name") == "London");
}

TEST_CASE("geoip mirrors the location into $set and $set_once, person fields defaulting to null", "[geoip]") {
  PluginHarness<GeoIp> plugin({}, maxmind());
  SECTION("a full location") {
    auto out = *plugin.process_event(event_from("89.160.20.129"));
    auto const& set = out.at("$set").as_object();
    auto const& once = out.at("$set_once").as_object();
    CHECK(set.at("$geoip_city_name") == "Linköping");
    CHECK(set.at("$geoip_subdivision_1_name") == "Östergötland County");
    CHECK(set.at("$geoip_postal_code").is_null());  // defaulted
    CHECK(once.at("$initial_geoip_city_name") == "Linköping");
    CHECK(once.at("$initial_geoip_latitude") == 58.4167);
    CHECK(once.at("$initial_geoip_postal_code").is_null());
  }
  SECTION("no city in the database: null in the person, absent from the event") {
    auto e = event_from("2001:218::1");
    e["$set"] = {{"email", "a@example.com"}};
    auto out = *plugin.process_event(e);
    CHECK_FALSE(out.at("properties").as_object().contains("$geoip_city_name"));
    CHECK(out.at("$set").at("$geoip_city_name").is_null());
    CHECK(out.at("$set_once").at("$initial_geoip_city_name").is_null());
    CHECK(out.at("$set").at("$geoip_country_name") == "Japan");
    CHECK(out.at("$set").at("email") == "a@example.com");  // the event's own $set is kept
  }
  SECTION("a value the event already set for a field the database lacks is kept") {
    auto e = event_from("2001:218::1");
    e["$set"] = {{"$geoip_city_name", "Tokyo (from the client)"}};
    CHECK(plugin.process_event(e)->at("$set").at("$geoip_city_name") == "Tokyo (from the client)");
  }
}

TEST_CASE("geoip skips the person update when the address did not change", "[geoip][cache]") {
  PluginHarness<GeoIp> plugin({}, maxmind());
  auto first = *plugin.process_event(event_from("89.160.20.129", "alice", "2026-01-01T10:00:00Z"));
  CHECK(first.contains("$set"));
  CHECK(plugin.cache().get("alice")->as_string() == "89.160.20.129|2026-01-01T10:00:00Z");

  // Same person, same address: the event is enriched, the person is not touched.
  auto second = *plugin.process_event(event_from("89.160.20.129", "alice", "2026-01-01T10:05:00Z"));
  CHECK(second.at("properties").at("$geoip_city_name") == "Linköping");
  CHECK_FALSE(second.contains("$set"));
  CHECK_FALSE(second.contains("$set_once"));

  // Another person at the same address is updated: the cache is per distinct_id.
  CHECK(plugin.process_event(event_from("89.160.20.129", "bob"))->contains("$set"));

  // A new address updates the person again and becomes the one remembered.
  auto moved = *plugin.process_event(event_from("81.2.69.142", "alice", "2026-01-01T11:00:00Z"));
  CHECK(moved.at("$set").at("$geoip_city_name") == "London");
  CHECK(plugin.cache().get("alice")->as_string() == "81.2.69.142|2026-01-01T11:00:00Z");

  // A late event (older than the one that set the location) from yet another
  // address must not overwrite the person's newer location.
  auto late = *plugin.process_event(event_from("216.160.83.56", "alice", "2026-01-01T10:30:00Z"));
  CHECK(late.at("properties").at("$geoip_city_name") == "Milton");
  CHECK_FALSE(late.contains("$set"));
  CHECK(plugin.cache().get("alice")->as_string() == "81.2.69.142|2026-01-01T11:00:00Z");
}

TEST_CASE("geoip's memory of a person's address lives one day", "[geoip][cache]") {
  PluginHarness<GeoIp> plugin({}, maxmind());
  CHECK(plugin.process_event(event_from("89.160.20.129", "carol"))->contains("$set"));
  plugin.advance_clock(std::chrono::hours(23));
  CHECK_FALSE(plugin.process_event(event_from("89.160.20.129", "carol"))->contains("$set"));
  plugin.advance_clock(std::chrono::hours(1) + std::chrono::seconds(1));
  CHECK(plugin.process_event(event_from("89.160.20.129", "carol"))->contains("$set"));
}

TEST_CASE("geoip leaves the event alone with $geoip_disable", "[geoip]") {
  PluginHarness<GeoIp> plugin({}, maxmind());
  auto e = event_from("89.160.20.129");
  e["properties"].as_object()["$geoip_disable"] = true;
  CHECK(*plugin.process_event(e) == e);
  CHECK_FALSE(plugin.cache().get("user-1"));
  // false does not disable it.
  e["properties"].as_object()["$geoip_disable"] = false;
  CHECK(plugin.process_event(e)->at("properties").as_object().contains("$geoip_city_name"));
}

TEST_CASE("geoip leaves invalid, private and unknown addresses unchanged, without errors", "[geoip]") {
  PluginHarness<GeoIp> plugin({}, maxmind());
  for (auto ip : {"not an address", "999.1.1.1", "10.1.2.3", "192.168.0.1", "172.20.0.1", "127.0.0.1",
                  "169.254.1.1", "100.64.0.1", "::1", "fe80::1", "fd00::1", "1.1.1.1" /* not in this database */}) {
    auto e = event_from(ip);
    CAPTURE(ip);
    CHECK(*plugin.process_event(e) == e);
  }
  auto e = event_from("89.160.20.129");
  e["properties"].as_object()["$ip"] = 42;  // truthy, not a string: not an address
  CHECK(*plugin.process_event(e) == e);
  auto const logs = plugin.logs();
  REQUIRE_FALSE(logs.empty());
  CHECK(logs.front().message.find("'not an address' is not an IP address") != std::string::npos);
  for (auto const& l : logs) CHECK(l.level == POSTHOG_LOG_DEBUG);  // logged, not an error
}

TEST_CASE("geoip without a usable database is refused at instance setup, naming the setting", "[geoip][config]") {
  ::unsetenv("POSTHOG_GEOIP_DATABASE");
  auto refused = [](boost::json::object settings) -> std::string {
    try {
      PluginHarness<GeoIp> plugin({}, std::move(settings));
    } catch (const posthog::ConfigError& e) {  // the server records it as a config error of setup_instance
      CHECK_THAT(e.what(), Catch::Contains("config field 'database'"));
      return e.what();
    }
    FAIL("accepted");
    return {};
  };
  CHECK_THAT(refused({}), Catch::Contains("config field 'database'") && Catch::Contains("POSTHOG_GEOIP_DATABASE"));
  CHECK_THAT(refused({{"database", "/nonexistent/City.mmdb"}}),
             Catch::Contains("cannot open GeoIP database /nonexistent/City.mmdb"));
  CHECK_THAT(refused({{"database", 7}}), Catch::Contains("must be a path or a list of paths"));
  CHECK_THAT(refused({{"database", POSTHOG_GEOIP_TEST_DATABASE "x"}}), Catch::Contains("cannot open"));
  // A file that is not a MaxMind database.
  CHECK_THAT(refused({{"database", __FILE__}}), Catch::Contains("cannot open GeoIP database"));
}

TEST_CASE("geoip takes its database from POSTHOG_GEOIP_DATABASE when the settings have none", "[geoip][config]") {
  ::setenv("POSTHOG_GEOIP_DATABASE", "/nonexistent.mmdb:" POSTHOG_GEOIP_TEST_DATABASE, 1);
  CHECK_THROWS_WITH((PluginHarness<GeoIp>({}, {})), Catch::Contains("/nonexistent.mmdb"));
  ::setenv("POSTHOG_GEOIP_DATABASE", POSTHOG_GEOIP_TEST_DATABASE, 1);
  PluginHarness<GeoIp> plugin({}, {});
  ::unsetenv("POSTHOG_GEOIP_DATABASE");
  CHECK(plugin.process_event(event_from("81.2.69.142"))->at("properties").at("$geoip_city_name") == "London");
}

TEST_CASE("geoip reads ip-location-db's flat layout (DB-IP Lite), names from the ISO table", "[geoip][dbip]") {
  // IPv4 and IPv6 come as two files, searched in order.
  PluginHarness<GeoIp> plugin(
      {}, {{"database", {POSTHOG_GEOIP_DEMO_DATABASE, POSTHOG_GEOIP_DEMO_DATABASE_V6}}});
  auto const p = plugin.process_event(event_from("89.160.20.112"))->at("properties").as_object();
  CHECK(p.at("$geoip_city_name") == "Stockholm");
  CHECK(p.at("$geoip_country_code") == "SE");
  CHECK(p.at("$geoip_country_name") == "Sweden");
  CHECK(p.at("$geoip_continent_code") == "EU");
  CHECK(p.at("$geoip_continent_name") == "Europe");
  CHECK(p.at("$geoip_subdivision_1_name") == "Stockholm");
  CHECK_FALSE(p.contains("$geoip_subdivision_1_code"));  // the flat layout has no subdivision codes
  CHECK(p.at("$geoip_latitude") == 59.3327);  // the stored float 59.3327f, not 59.33270263671875
  auto const us = plugin.process_event(event_from("8.8.8.8", "u2"))->at("properties").as_object();
  CHECK(us.at("$geoip_country_name") == "United States");
  CHECK(us.at("$geoip_continent_name") == "North America");
  auto const v6 = plugin.process_event(event_from("2001:4860:4860::8888", "u3"))->at("properties").as_object();
  CHECK(v6.at("$geoip_continent_name") == "North America");
}

TEST_CASE("A team's copy of geoip is one reference to the shared database", "[geoip][memory]") {
  STATIC_REQUIRE(sizeof(GeoIp) == sizeof(void*));
  STATIC_REQUIRE(posthog::capabilities_of<GeoIp>() & POSTHOG_CAP_PROCESS_EVENT_NOEXCEPT);
}

TEST_CASE("Public address classification", "[geoip][ip]") {
  using posthog::plugins::geoip::parse_public_ip;
  bool malformed = false;
  CHECK(parse_public_ip("8.8.8.8", &malformed));
  CHECK_FALSE(parse_public_ip("172.31.255.255", &malformed));
  CHECK_FALSE(malformed);
  CHECK(parse_public_ip("172.32.0.1"));
  CHECK_FALSE(parse_public_ip("224.0.0.1"));
  CHECK_FALSE(parse_public_ip("255.255.255.255"));
  CHECK(parse_public_ip("2a00:1450::1"));
  CHECK_FALSE(parse_public_ip("::ffff:10.0.0.1"));
  CHECK_FALSE(parse_public_ip("8.8.8.8 ", &malformed));
  CHECK(malformed);
  CHECK_FALSE(parse_public_ip(std::string(100, '1'), &malformed));
  CHECK(malformed);
}
