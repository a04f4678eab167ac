// Every bundled plugin, loaded from its .so by the real server in process mode:
// one chain per team, one instance per plugin, the outputs a PostHog user expects.
#include <catch2/catch.hpp>
#include <posthog/testing.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

using posthog::testing::run_process_mode;

namespace {

boost::json::object plugin(const char* name, boost::json::object config = {}) {
  return {{"name", name}, {"config", std::move(config)}};
}

boost::json::object config() {
  boost::json::array plugins{
      boost::json::object{{"name", "geoip"}, {"settings", {{"database", POSTHOG_GEOIP_TEST_DATABASE}}}},
      boost::json::object{{"name", "property-filter"}},
      boost::json::object{{"name", "currency-normalizer"},
                          {"settings", {{"rates", boost::json::parse(R"({"base":"USD","rates":{"EUR":0.9}})")}}}},
      boost::json::object{{"name", "downsampling"}},
      boost::json::object{{"name", "taxonomy"}},
      boost::json::object{{"name", "helloworld"}}};
  boost::json::array teams{
      boost::json::object{{"id", 1},
                          {"token", "phc_one"},
                          {"plugins", {plugin("property-filter", {{"properties", "email,$set.email"}}),
                                       plugin("geoip"), plugin("currency-normalizer", {{"normalizedCurrency", "EUR"}}),
                                       plugin("taxonomy", {{"defaultNamingConvention", "snake_case"}}),
                                       plugin("downsampling", {{"percentage", "100"}}), plugin("helloworld")}}},
      // Team 2 keeps nobody: its events stop at downsampling, the first plugin.
      boost::json::object{{"id", 2},
                          {"token", "phc_two"},
                          {"plugins", {plugin("downsampling", {{"percentage", "0"}}), plugin("geoip")}}},
      // Team 3's config is refused: its chain is not built, the others run.
      boost::json::object{{"id", 3}, {"plugins", {plugin("property-filter", {{"properties", ""}})}}}};
  return {{"plugins_dir", POSTHOG_PLUGINS_DIR}, {"plugins", std::move(plugins)}, {"teams", std::move(teams)}};
}

std::string line(boost::json::object o) { return boost::json::serialize(o); }

}  // namespace

TEST_CASE("The bundled plugins run as one chain in the real server", "[process][bundled]") {
  auto run = run_process_mode(
      POSTHOG_SERVER_BINARY, config(),
      {line({{"uuid", "a"},
             {"event", "Order Completed"},
             {"distinct_id", "alice"},
             {"api_key", "phc_one"},
             {"ip", "89.160.20.129"},
             {"timestamp", "2026-01-01T00:00:00Z"},
             {"properties", {{"price", 20}, {"currency", "USD"}, {"email", "alice@example.com"}}},
             {"$set", {{"email", "alice@example.com"}, {"plan", "pro"}}}}),
       line({{"uuid", "b"},
             {"event", "$pageview"},
             {"distinct_id", "alice"},
             {"api_key", "phc_one"},
             {"ip", "89.160.20.129"},
             {"timestamp", "2026-01-01T00:01:00Z"},
             {"properties", {{"price", "x"}, {"currency", "USD"}}}}),
       line({{"uuid", "c"}, {"event", "e"}, {"distinct_id", "bob"}, {"token", "phc_two"}, {"ip", "81.2.69.142"}}),
       line({{"uuid", "d"}, {"event", "e"}, {"distinct_id", "carol"}, {"team_id", 3}})});
  REQUIRE(run.exit_code == 0);
  std::map<std::string, boost::json::object> out;
  for (auto& e : run.events) out[std::string(e.at("uuid").as_string())] = e;
  REQUIRE(out.size() == 3);  // c was dropped by team 2's downsampling

  auto const& a = out["a"];
  CHECK(a.at("event") == "order_completed");
  auto const& props = a.at("properties").as_object();
  CHECK(props.at("$geoip_city_name") == "Linköping");
  CHECK(props.at("$geoip_latitude") == 58.4167);
  CHECK(props.at("normalized_price").to_number<double>() == 18.0);  // written 18, as JSON.stringify
  CHECK(props.at("normalized_currency") == "EUR");
  CHECK_FALSE(props.contains("email"));
  CHECK(props.at("hello") == "world");
  CHECK_FALSE(a.at("$set").as_object().contains("email"));
  CHECK(a.at("$set").at("plan") == "pro");
  CHECK(a.at("$set").at("$geoip_country_name") == "Sweden");
  CHECK(a.at("$set_once").at("$initial_geoip_city_name") == "Linköping");

  // Same person, same address: geoip's cache (per team, in the server) skips the person update.
  auto const& b = out["b"];
  CHECK(b.at("event") == "$pageview");
  CHECK(b.at("properties").at("$geoip_city_name") == "Linköping");
  CHECK_FALSE(b.contains("$set"));
  CHECK_FALSE(b.at("properties").as_object().contains("normalized_price"));

  CHECK_FALSE(out["d"].contains("properties"));  // team 3 has no chain

  // The malformed price was logged, with the team and plugin that saw it.
  bool price_logged = false;
  for (auto const& l : run.of_type("plugin_log"))
    if (l.at("plugin") == "currency-normalizer" && l.at("team_id") == 1 && l.at("level") == "warn" &&
        l.at("message").as_string().find("properties.price is not a number") != std::string::npos)
      price_logged = true;
  CHECK(price_logged);

  // Team 3's refusal names the plugin, the step and the field.
  auto const load_errors = run.of_type("load_error");
  REQUIRE(load_errors.size() == 1);
  CHECK(load_errors[0].at("field") == "properties");

  auto const summary = run.of_type("summary").at(0);
  CHECK(summary.at("in") == 4);
  CHECK(summary.at("out") == 3);
  CHECK(summary.at("dropped") == 1);
  CHECK(summary.at("errors") == 0);
}

TEST_CASE("A plugin whose instance cannot start is refused with the setting named; events flow", "[process][bundled]") {
  boost::json::object cfg{
      {"plugins_dir", POSTHOG_PLUGINS_DIR},
      {"plugins", {boost::json::object{{"name", "geoip"}, {"settings", {{"database", "/nonexistent/City.mmdb"}}}},
                   boost::json::object{{"name", "taxonomy"}}}},
      {"teams", {boost::json::object{{"id", 1}, {"plugins", {plugin("taxonomy"), plugin("geoip")}}},
                 boost::json::object{{"id", 2}, {"plugins", {plugin("taxonomy")}}}}}};
  auto run = run_process_mode(POSTHOG_SERVER_BINARY, cfg,
                              {line({{"uuid", "a"}, {"event", "signed up"}, {"distinct_id", "d"}, {"team_id", 1}}),
                               line({{"uuid", "b"}, {"event", "signed up"}, {"distinct_id", "d"}, {"team_id", 2}})});
  REQUIRE(run.exit_code == 0);
  auto const errors = run.of_type("load_error");
  REQUIRE_FALSE(errors.empty());
  CHECK(errors[0].at("step") == "setup_instance");
  CHECK(errors[0].at("field") == "settings.database");
  CHECK(boost::json::serialize(errors[0].at("details")).find("cannot open GeoIP database /nonexistent/City.mmdb") !=
        std::string::npos);
  REQUIRE(run.events.size() == 2);  // nothing lost
  for (auto const& e : run.events)
    if (e.at("team_id") == 2) CHECK(e.at("event") == "signedUp");
}

TEST_CASE("check mode sets everything up once and reports copies and refusals", "[process][check]") {
  auto const dir = std::filesystem::temp_directory_path() / ("posthog-check-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto const file = dir / "config.json";
  std::ofstream(file) << boost::json::serialize(config());
  std::string const command = std::string(POSTHOG_SERVER_BINARY) + " check --config " + file.string();
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe);
  std::string out;
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  int const status = ::pclose(pipe);
  std::filesystem::remove_all(dir);
  CHECK(WEXITSTATUS(status) == 3);  // team 3's config is refused
  auto const report = boost::json::parse(out).as_object();
  CHECK(report.at("teams") == 3);
  CHECK(report.at("plugin_copies") == 8);             // 6 for team 1, 2 for team 2
  CHECK(report.at("instances").as_array().size() == 6);  // one per plugin, not per team
  REQUIRE(report.at("load_errors").as_array().size() == 1);
  CHECK(report.at("load_errors").at(0).at("step") == "team_config");
  CHECK(report.at("load_errors").at(0).at("field") == "properties");
}
