// Process mode end to end: the real binary, the real loader, real modules.
#include <catch2/catch.hpp>
#include <posthog/testing.hpp>

#include <algorithm>
#include <map>

using posthog::testing::run_process_mode;

namespace {

boost::json::object config_with(boost::json::array teams, boost::json::array plugins) {
  return {{"plugins_dir", POSTHOG_TEST_MODULES_DIR}, {"plugins", std::move(plugins)}, {"teams", std::move(teams)}};
}

boost::json::object testkit_config() {
  return config_with(
      {boost::json::object{{"id", 1}, {"token", "phc_one"},
                           {"plugins", boost::json::array{boost::json::object{{"name", "testkit"},
                                                                              {"config", {{"label", "one"}}}}}}},
       boost::json::object{{"id", 2}, {"plugins", boost::json::array{}}}},
      {boost::json::object{{"name", "testkit"}}});
}

std::string line(boost::json::object o) { return boost::json::serialize(o); }

}  // namespace

TEST_CASE("process: events through the chain, malformed lines reported and skipped", "[process]") {
  auto run = run_process_mode(
      POSTHOG_SERVER_BINARY, testkit_config(),
      {line({{"uuid", "a"}, {"event", "e"}, {"distinct_id", "d"}, {"team_id", 1}}),
       "{\"event\": \"broken\", ",
       line({{"uuid", "b"}, {"event", "e"}, {"distinct_id", "d"}, {"api_key", "phc_one"}}),
       "[1, 2]",
       line({{"uuid", "c"}, {"event", "e"}, {"distinct_id", "d"}, {"team_id", 2}}),
       line({{"uuid", "d"}, {"event", "e"}, {"distinct_id", "d"}, {"token", "phc_unknown"}}),
       "",
       line({{"uuid", "e"}, {"event", "e"}, {"distinct_id", "d"}, {"team_id", 1}, {"properties", {{"drop", true}}}})});
  REQUIRE(run.exit_code == 0);
  std::map<std::string, boost::json::object> by_uuid;
  for (auto& e : run.events) by_uuid[std::string(e.at("uuid").as_string())] = e;
  REQUIRE(by_uuid.size() == 3);
  CHECK(by_uuid["a"].at("properties").at("testkit_label") == "one");
  CHECK(by_uuid["b"].at("team_id") == 1);  // resolved from the token
  CHECK(by_uuid["b"].at("properties").at("testkit_label") == "one");
  CHECK_FALSE(by_uuid["c"].contains("properties"));  // team 2 has no plugins: unchanged

  auto input_errors = run.of_type("input_error");
  REQUIRE(input_errors.size() == 3);
  // Workers parse in parallel: errors arrive in any order, each with its line.
  std::sort(input_errors.begin(), input_errors.end(),
            [](auto const& a, auto const& b) { return a.at("line").as_int64() < b.at("line").as_int64(); });
  CHECK(input_errors[0].at("line") == 2);
  CHECK(input_errors[0].at("message").as_string().starts_with("malformed JSON"));
  CHECK(input_errors[1].at("line") == 4);
  CHECK(input_errors[1].at("message") == "an event must be a JSON object");
  CHECK(input_errors[2].at("line") == 6);
  CHECK(input_errors[2].at("message").as_string().starts_with("no team"));

  auto summary = run.of_type("summary");
  REQUIRE(summary.size() == 1);
  CHECK(summary[0].at("in") == 4);
  CHECK(summary[0].at("out") == 3);
  CHECK(summary[0].at("dropped") == 1);
  CHECK(summary[0].at("malformed") == 3);
}

TEST_CASE("process: a plugin that throws is reported and the event goes on unchanged", "[process]") {
  auto run = run_process_mode(POSTHOG_SERVER_BINARY, testkit_config(),
                              {line({{"uuid", "x-1"}, {"event", "e"}, {"distinct_id", "d"}, {"team_id", 1},
                                     {"properties", {{"throw", true}}}})});
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.events.size() == 1);
  CHECK_FALSE(run.events[0].at("properties").as_object().contains("half_written"));
  auto errors = run.of_type("plugin_error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].at("plugin") == "testkit");
  CHECK(errors[0].at("team_id") == 1);
  CHECK(errors[0].at("event_uuid") == "x-1");
  CHECK(errors[0].at("message") == "asked to throw");
  CHECK(run.of_type("summary")[0].at("errors") == 1);
}

TEST_CASE("process: order per (team, distinct_id) is kept across workers", "[process]") {
  std::vector<std::string> input;
  constexpr int people = 50, per_person = 200;
  for (int i = 0; i < per_person; ++i)
    for (int p = 0; p < people; ++p)
      input.push_back(line({{"event", "e"}, {"distinct_id", "person-" + std::to_string(p)}, {"team_id", 1},
                            {"properties", {{"seq", i}}}}));
  auto run = run_process_mode(POSTHOG_SERVER_BINARY, testkit_config(), input, {"--workers", "4"});
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.events.size() == input.size());
  std::map<std::string, std::int64_t> last;
  for (auto const& e : run.events) {
    auto const& props = e.at("properties").as_object();
    CHECK_FALSE(props.contains("out_of_order"));  // the plugin saw them in order
    auto id = std::string(e.at("distinct_id").as_string());
    auto seq = props.at("seq").as_int64();
    auto it = last.find(id);
    if (it != last.end()) CHECK(seq == it->second + 1);  // and they came out in order
    last[id] = seq;
  }
}

TEST_CASE("process: captured events go through the chain, with a depth limit", "[process]") {
  auto run = run_process_mode(
      POSTHOG_SERVER_BINARY, testkit_config(),
      {line({{"uuid", "origin"}, {"event", "e"}, {"distinct_id", "d"}, {"team_id", 1}, {"properties", {{"capture", true}}}}),
       line({{"uuid", "loop"}, {"event", "e"}, {"distinct_id", "d"}, {"team_id", 1}, {"properties", {{"capture_loop", true}}}})});
  REQUIRE(run.exit_code == 0);
  int captured = 0, loops = 0;
  for (auto const& e : run.events) {
    if (e.at("event") == "captured by testkit") {
      ++captured;
      CHECK(e.at("distinct_id") == "testkit");
      CHECK(e.at("properties").at("origin") == "origin");
      CHECK(e.at("properties").at("testkit_label") == "one");  // it went through the chain
    }
    if (e.at("event") == "loop") ++loops;
  }
  CHECK(captured == 1);
  CHECK(loops == 3);  // the default depth limit
  auto errors = run.of_type("plugin_error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].at("message").as_string().find("capture failed") != std::string::npos);
}

TEST_CASE("process: a refused module is reported and the other plugins keep running", "[process]") {
  auto config = config_with(
      {boost::json::object{
          {"id", 1},
          {"plugins", boost::json::array{boost::json::object{{"name", "bad_abi_major"}},
                                         boost::json::object{{"name", "testkit"}, {"config", {{"label", "ok"}}}},
                                         boost::json::object{{"name", "throws_in_setup_team"}}}}}},
      {boost::json::object{{"name", "bad_abi_major"}}, boost::json::object{{"name", "testkit"}},
       boost::json::object{{"name", "throws_in_setup_team"}}});
  auto run = run_process_mode(POSTHOG_SERVER_BINARY, config,
                              {line({{"event", "e"}, {"distinct_id", "d"}, {"team_id", 1}})});
  REQUIRE(run.exit_code == 0);
  auto load_errors = run.of_type("load_error");
  REQUIRE(load_errors.size() == 2);
  CHECK(load_errors[0].at("step") == "descriptor");
  CHECK(load_errors[1].at("step") == "setup_team");
  REQUIRE(run.events.size() == 1);
  CHECK(run.events[0].at("properties").at("testkit_label") == "ok");
}

TEST_CASE("process: helloworld, the bundled plugin, end to end", "[process][helloworld]") {
  boost::json::object config{
      {"plugins_dir", POSTHOG_PLUGINS_DIR},
      {"plugins", boost::json::array{boost::json::object{{"name", "helloworld"}}}},
      {"teams", boost::json::array{boost::json::object{
                    {"id", 1},
                    {"plugins", boost::json::array{boost::json::object{{"name", "helloworld"},
                                                                       {"config", {{"bar", "qux"}}}}}}}}}};
  auto run = run_process_mode(POSTHOG_SERVER_BINARY, config,
                              {line({{"event", "a"}, {"distinct_id", "d"}, {"team_id", 1}}),
                               line({{"event", "b"}, {"distinct_id", "d"}, {"team_id", 1}})});
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.events.size() == 2);
  CHECK(run.events[0].at("properties").at("hello") == "world");
  CHECK(run.events[0].at("properties").at("bar") == "qux");
  CHECK(run.events[0].at("properties").at("$counter") == 0);
  CHECK(run.events[1].at("properties").at("$counter") == 1);
}

TEST_CASE("process: an invalid config file is a clear error, not a crash", "[process]") {
  auto run = run_process_mode(POSTHOG_SERVER_BINARY, {{"teams", "not an array"}}, {});
  CHECK(run.exit_code == 1);
  REQUIRE(run.of_type("config_error").size() == 1);
  CHECK(run.of_type("config_error")[0].at("message").as_string().ends_with("$.teams: must be an array"));
}

TEST_CASE("process: events nest as deep as capture takes them (128 levels), no deeper", "[process]") {
  auto nested = [](int levels) {
    std::string v = "1";
    for (int i = 0; i < levels; ++i) v = "{\"a\":" + v + "}";
    return v;
  };
  // The event object is one of the levels, its properties the next.
  auto run = run_process_mode(
      POSTHOG_SERVER_BINARY, testkit_config(),
      {R"({"uuid":"deep","event":"e","distinct_id":"d","team_id":2,"properties":)" + nested(127) + "}",
       R"({"uuid":"deeper","event":"e","distinct_id":"d","team_id":2,"properties":)" + nested(128) + "}"});
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.events.size() == 1);
  CHECK(run.events[0].at("uuid") == "deep");
  auto const errors = run.of_type("input_error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].at("line") == 2);
}
