// Where the database has a record but not one of its values, PostHog's GeoIP
// plugin assigned JavaScript's `undefined`, and the event's serialisation
// dropped the key: absent from properties, $set and $set_once, not null (a null
// would erase the person's earlier value). Where the record itself is missing,
// nothing is assigned and the person's field keeps its null default. One test
// per kind of missing value: the location without a time zone is a real record
// of MaxMind's test database; the rest are records written by the test.
#include <catch2/catch.hpp>
#include <posthog/testing.hpp>

#include <filesystem>
#include <string>
#include <unistd.h>

#include "../geoip.hpp"
#include "crafted_database.hpp"

namespace missing_values_test {

using posthog::plugins::GeoIp;
using posthog::testing::PluginHarness;
namespace fs = std::filesystem;

namespace {

// Records with a parent but not all of its values, one network each.
const std::vector<geoip_test_support::CraftedNetwork>& crafted_networks() {
  static const boost::json::object germany{{"iso_code", "DE"}, {"names", {{"en", "Germany"}}}};
  static const boost::json::object europe{{"code", "EU"}, {"names", {{"en", "Europe"}}}};
  static const boost::json::object munich{{"latitude", 48.1374}, {"longitude", 11.5755},
                                          {"time_zone", "Europe/Berlin"}};
  auto record = [&](boost::json::object extra) {
    boost::json::object r{{"country", germany}, {"continent", europe}, {"location", munich}};
    for (auto& [k, v] : extra) r[k] = std::move(v);
    return r;
  };
  static const std::vector<geoip_test_support::CraftedNetwork> networks{
      {"5.1.1.0/24", record({{"city", {{"geoname_id", 2867714}, {"names", {{"de", "München"}}}}}})},
      {"5.1.2.0/24", record({{"city", {{"geoname_id", 2867714}}}})},
      {"5.1.3.0/24", record({{"postal", boost::json::object{}}})},
      {"5.1.4.0/24", record({{"subdivisions", {boost::json::object{{"names", {{"en", "Bavaria"}}}}}}})},
      {"5.1.5.0/24", record({{"subdivisions", {boost::json::object{{"iso_code", "BY"}, {"names", {{"de", "Bayern"}}}},
                                               boost::json::object{{"iso_code", "091"}}}}})},
      {"5.1.6.0/24", record({{"location", {{"accuracy_radius", 100}, {"time_zone", "Europe/Berlin"}}}})},
      {"5.1.7.0/24", record({{"country", {{"names", {{"en", "Germany"}}}}}})},
      {"5.1.8.0/24", record({{"country", {{"iso_code", "DE"}}}})},
      {"5.1.9.0/24", record({{"continent", {{"names", {{"en", "Europe"}}}}}})},
      {"5.1.10.0/24", {}},  // a record with none of the parents
  };
  return networks;
}

// Written once per test run, removed at exit.
const std::string& crafted_database() {
  static struct File {
    fs::path path = fs::temp_directory_path() / ("posthog-geoip-crafted-" + std::to_string(::getpid()) + ".mmdb");
    File() { geoip_test_support::write_crafted_database(path, crafted_networks()); }
    ~File() {
      std::error_code ec;
      fs::remove(path, ec);
    }
  } file;
  static const std::string path = file.path.string();
  return path;
}

boost::json::object located(PluginHarness<GeoIp>& plugin, std::string_view ip, boost::json::object event_extra = {}) {
  auto e = posthog::testing::make_event("$pageview", {{"$ip", ip}}, "person-at-" + std::string(ip));
  for (auto& [k, v] : event_extra) e[k] = std::move(v);
  auto out = plugin.process_event(e);
  REQUIRE(out);
  return *out;
}

// Absent from properties, $set and $set_once: what `undefined` became.
void require_absent(const boost::json::object& out, const std::string& field) {
  INFO(field);
  CHECK_FALSE(out.at("properties").as_object().contains("$geoip_" + field));
  CHECK_FALSE(out.at("$set").as_object().contains("$geoip_" + field));
  CHECK_FALSE(out.at("$set_once").as_object().contains("$initial_geoip_" + field));
}

// The record is missing: the event is not given the field, the person a null.
void require_null_default(const boost::json::object& out, const std::string& field) {
  INFO(field);
  CHECK_FALSE(out.at("properties").as_object().contains("$geoip_" + field));
  CHECK(out.at("$set").at("$geoip_" + field).is_null());
  CHECK(out.at("$set_once").at("$initial_geoip_" + field).is_null());
}

template <class Value>
void require_value(const boost::json::object& out, const std::string& field, Value value) {
  INFO(field);
  CHECK(out.at("properties").at("$geoip_" + field) == value);
  CHECK(out.at("$set").at("$geoip_" + field) == value);
  CHECK(out.at("$set_once").at("$initial_geoip_" + field) == value);
}

}  // namespace

TEST_CASE("geoip: a location without a time zone leaves the time zone absent (MaxMind's test database)",
          "[geoip][missing]") {
  PluginHarness<GeoIp> plugin({}, {{"database", POSTHOG_GEOIP_TEST_DATABASE}});
  // 2001:250::/31 has country, continent and location {latitude, longitude}
  // but no location.time_zone, and no city record.
  auto const out = located(plugin, "2001:250::1");
  CHECK(out.at("properties").at("$geoip_country_code") == "CN");
  CHECK(out.at("properties").at("$geoip_latitude").is_number());
  require_absent(out, "time_zone");
  require_null_default(out, "city_name");
  require_null_default(out, "postal_code");
}

TEST_CASE("geoip: what the event already had under a key the lookup made undefined is removed too",
          "[geoip][missing]") {
  PluginHarness<GeoIp> plugin({}, {{"database", POSTHOG_GEOIP_TEST_DATABASE}});
  boost::json::object set{{"$geoip_time_zone", "Asia/Shanghai (from the client)"}, {"plan", "pro"}};
  auto const out = located(plugin, "2001:250::1", {{"$set", set}, {"$set_once", set}});
  require_absent(out, "time_zone");
  CHECK(out.at("$set").at("plan") == "pro");  // the rest of the event's own $set stays

  // A person already located from this address gets no person update; the
  // event's own property is still replaced by `undefined`, so removed.
  auto e = posthog::testing::make_event("$pageview", {{"$ip", "2001:250::1"}, {"$geoip_time_zone", "stale"}},
                                        "person-at-2001:250::1");
  auto const again = *plugin.process_event(e);
  CHECK_FALSE(again.contains("$set"));
  CHECK_FALSE(again.at("properties").as_object().contains("$geoip_time_zone"));
}

TEST_CASE("geoip: a city without an English name, or without names", "[geoip][missing]") {
  PluginHarness<GeoIp> plugin({}, {{"database", crafted_database()}});
  for (auto ip : {"5.1.1.1", "5.1.2.1"}) {
    CAPTURE(ip);
    auto const out = located(plugin, ip);
    require_absent(out, "city_name");
    require_value(out, "country_name", "Germany");
    require_value(out, "time_zone", "Europe/Berlin");
    require_null_default(out, "postal_code");  // no postal record at all
  }
}

TEST_CASE("geoip: a postal record without a code", "[geoip][missing]") {
  PluginHarness<GeoIp> plugin({}, {{"database", crafted_database()}});
  auto const out = located(plugin, "5.1.3.1");
  require_absent(out, "postal_code");
  require_null_default(out, "city_name");
}

TEST_CASE("geoip: a subdivision without an ISO code", "[geoip][missing]") {
  PluginHarness<GeoIp> plugin({}, {{"database", crafted_database()}});
  auto const out = located(plugin, "5.1.4.1");
  require_absent(out, "subdivision_1_code");
  require_value(out, "subdivision_1_name", "Bavaria");
  require_null_default(out, "subdivision_2_code");  // no second subdivision
  require_null_default(out, "subdivision_2_name");
}

TEST_CASE("geoip: subdivisions without an English name", "[geoip][missing]") {
  PluginHarness<GeoIp> plugin({}, {{"database", crafted_database()}});
  auto const out = located(plugin, "5.1.5.1");
  require_value(out, "subdivision_1_code", "BY");
  require_absent(out, "subdivision_1_name");
  require_value(out, "subdivision_2_code", "091");
  require_absent(out, "subdivision_2_name");
}

TEST_CASE("geoip: a location without coordinates", "[geoip][missing]") {
  PluginHarness<GeoIp> plugin({}, {{"database", crafted_database()}});
  auto const out = located(plugin, "5.1.6.1");
  require_absent(out, "latitude");
  require_absent(out, "longitude");
  require_value(out, "time_zone", "Europe/Berlin");
}

TEST_CASE("geoip: a country without its ISO code, and without names", "[geoip][missing]") {
  PluginHarness<GeoIp> plugin({}, {{"database", crafted_database()}});
  auto const no_code = located(plugin, "5.1.7.1");
  require_absent(no_code, "country_code");
  require_value(no_code, "country_name", "Germany");
  auto const no_name = located(plugin, "5.1.8.1");
  require_absent(no_name, "country_name");
  require_value(no_name, "country_code", "DE");
}

TEST_CASE("geoip: a continent without its code", "[geoip][missing]") {
  PluginHarness<GeoIp> plugin({}, {{"database", crafted_database()}});
  auto const out = located(plugin, "5.1.9.1");
  require_absent(out, "continent_code");
  require_value(out, "continent_name", "Europe");
}

TEST_CASE("geoip: a record without any of the parents gives the person nulls and the event nothing",
          "[geoip][missing]") {
  PluginHarness<GeoIp> plugin({}, {{"database", crafted_database()}});
  auto const out = located(plugin, "5.1.10.1");
  for (auto field : {"city_name", "country_name", "country_code", "continent_name", "continent_code", "postal_code",
                     "latitude", "longitude", "time_zone", "subdivision_1_code", "subdivision_1_name",
                     "subdivision_2_code", "subdivision_2_name"})
    require_null_default(out, field);
  CHECK(out.at("properties").as_object().size() == 1);  // $ip alone
}

TEST_CASE("geoip: the flat layout (DB-IP Lite) is read as the City record it was flattened from",
          "[geoip][missing][dbip]") {
  PluginHarness<GeoIp> plugin({}, {{"database", POSTHOG_GEOIP_DEMO_DATABASE}});
  // 89.160.20.112: city, country, coordinates and one state; "" for postcode,
  // timezone and the second state. Coordinates make a location record, whose
  // time zone is then undefined; a state is a subdivision without a code.
  auto const out = located(plugin, "89.160.20.112");
  require_value(out, "city_name", "Stockholm");
  require_absent(out, "time_zone");
  require_absent(out, "subdivision_1_code");
  require_value(out, "subdivision_1_name", "Stockholm");
  require_null_default(out, "postal_code");
  require_null_default(out, "subdivision_2_name");
}

}  // namespace missing_values_test
