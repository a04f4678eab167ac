// Capture payloads: shapes, tokens, per-event validation; then, as the worker
// does it after its parse, normalisation.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <posthog/timestamp.hpp>

#include "capture/capture_payload.hpp"
#include "capture/event_normalisation.hpp"
#include "log/log_record.hpp"

namespace capture_payload_test {

using posthog::server::CaptureContext;
using posthog::server::CaptureError;
using posthog::server::read_capture_payload;

namespace {

std::optional<std::int64_t> teams(std::string_view token) {
  if (token == "phc_one") return 1;
  if (token == "phc_two") return 2;
  return std::nullopt;
}

CaptureContext context() {
  CaptureContext c;
  c.ip = "203.0.113.9";
  c.site_url = "http://127.0.0.1:8000";
  c.now = std::chrono::system_clock::time_point(std::chrono::milliseconds(*posthog::iso8601_millis("2026-11-23T12:00:00.000Z")));
  return c;
}

// What capture took, as the worker makes it: each record's events parsed and
// normalised, in request order (one partition keeps it).
struct Captured {
  std::int64_t team_id = 0;
  std::vector<boost::json::object> events;
  std::vector<posthog::server::RejectedEvent> rejected;
};
Captured capture(std::string_view json, CaptureContext c = context()) {
  auto const request = read_capture_payload(json, c, teams);
  Captured out{request.team_id, {}, request.rejected};
  for (auto const& record : request.records) {
    posthog::server::LogRecordView const view(record.payload);
    auto events = view.events();
    for (posthog::server::RecordEvent e; events.next(e);) {
      auto event = boost::json::parse(e.text).as_object();
      posthog::server::normalise_event(event, view.team_id(), view, e.distinct_id, e.uuid);
      out.events.push_back(std::move(event));
    }
  }
  return out;
}

std::pair<int, std::string> refusal(std::string_view json, CaptureContext c = context()) {
  try {
    (void)read_capture_payload(json, c, teams);
  } catch (const CaptureError& e) {
    return {e.status(), e.what()};
  }
  return {200, {}};
}

}  // namespace

TEST_CASE("The three payload shapes", "[capture][payload]") {
  auto one = capture(R"({"event":"e","distinct_id":"d","api_key":"phc_one"})", context());
  CHECK(one.team_id == 1);
  REQUIRE(one.events.size() == 1);
  auto many = capture(R"([{"event":"a","distinct_id":"d","token":"phc_two"},
                                       {"event":"b","distinct_id":"d","properties":{"token":"phc_two"}}])", context());
  CHECK(many.team_id == 2);
  CHECK(many.events.size() == 2);
  auto batch = capture(R"({"api_key":"phc_one","sent_at":"2026-11-23T11:59:59.000Z",
                                        "batch":[{"event":"a","distinct_id":"d"},{"event":"b","distinct_id":"e"}]})", context());
  CHECK(batch.team_id == 1);
  CHECK(batch.events.size() == 2);
  CHECK(batch.events[1].at("event") == "b");
}

TEST_CASE("Normalisation as PostHog's capture did it", "[capture][payload]") {
  auto out = capture(
      R"({"api_key":"phc_one","sent_at":"2026-11-23T11:00:10.000Z","batch":[
          {"event":"e","distinct_id":42,"timestamp":"2026-11-23T11:00:00.000Z","properties":{"x":1},
           "$set":{"plan":"pro"}},
          {"event":"e","$distinct_id":"via-dollar","uuid":"0190b2c4-0000-7000-8000-000000000001"},
          {"event":"e","properties":{"distinct_id":"in-props"},"offset":1500}]})", context());
  REQUIRE(out.events.size() == 3);
  auto const& a = out.events[0];
  CHECK(a.at("distinct_id") == "42");  // numbers as text
  CHECK(a.at("team_id") == 1);
  CHECK(a.at("ip") == "203.0.113.9");
  CHECK(a.at("site_url") == "http://127.0.0.1:8000");
  CHECK(a.at("now") == "2026-11-23T12:00:00.000Z");
  CHECK(a.at("sent_at") == "2026-11-23T11:00:10.000Z");
  // The client's clock is 59 min 50 s behind: its event happened 10 s before it sent.
  CHECK(a.at("timestamp") == "2026-11-23T11:59:50.000Z");
  CHECK(a.at("properties").at("x") == 1);
  CHECK(a.at("$set").at("plan") == "pro");
  CHECK(a.at("uuid").as_string().size() == 36);
  CHECK(a.at("uuid").as_string()[14] == '7');  // a new UUIDv7
  CHECK(a.at("token") == "phc_one");
  CHECK_FALSE(a.contains("api_key"));

  CHECK(out.events[1].at("distinct_id") == "via-dollar");
  CHECK(out.events[1].at("uuid") == "0190b2c4-0000-7000-8000-000000000001");  // the client's is kept
  CHECK(out.events[1].at("timestamp") == "2026-11-23T12:00:00.000Z");          // no timestamp: now
  CHECK(out.events[2].at("distinct_id") == "in-props");
  CHECK(out.events[2].at("timestamp") == "2026-11-23T11:59:58.500Z");  // offset 1500 ms
  CHECK(out.events[2].at("properties").at("distinct_id") == "in-props");
}

TEST_CASE("A timestamp alone is kept; sent_at can come from the _ query parameter", "[capture][payload]") {
  auto alone = capture(R"({"event":"e","distinct_id":"d","api_key":"phc_one","timestamp":"2026-01-01T00:00:00Z"})", context());
  CHECK(alone.events[0].at("timestamp") == "2026-01-01T00:00:00.000Z");
  auto c = context();
  c.query = "ver=1.2&_=1763899190000";  // 2025-11-23T11:59:50Z
  auto skewed = capture(R"({"event":"e","distinct_id":"d","api_key":"phc_one","timestamp":"2025-11-23T11:59:40.000Z"})", c);
  CHECK(skewed.events[0].at("timestamp") == "2026-11-23T11:59:50.000Z");
}

TEST_CASE("Timestamps far outside the calendar four digits can say become now", "[capture][payload]") {
  auto far = capture(R"({"event":"e","distinct_id":"d","api_key":"phc_one","timestamp":"2300-01-01T00:00:00Z"})", context());
  CHECK(far.events[0].at("timestamp") == "2300-01-01T00:00:00.000Z");  // past 2262: still right (no nanosecond clock)
  auto skew = capture(
      R"({"event":"e","distinct_id":"d","api_key":"phc_one","timestamp":"9999-12-01T00:00:00Z","sent_at":"0001-01-01T00:00:00Z"})", context());
  CHECK(skew.events[0].at("timestamp") == "2026-11-23T12:00:00.000Z");  // would be year ~12025: now instead
  auto offset = capture(R"({"event":"e","distinct_id":"d","api_key":"phc_one","offset":1e300})", context());
  CHECK(offset.events[0].at("timestamp") == "2026-11-23T12:00:00.000Z");
}

TEST_CASE("distinct_id is trimmed to 200 characters, on a character boundary", "[capture][payload]") {
  std::string long_id(199, 'a');
  long_id += "é";  // two bytes straddling the limit
  long_id += std::string(50, 'b');
  auto out = capture(
      boost::json::serialize(boost::json::object{{"event", "e"}, {"distinct_id", long_id}, {"api_key", "phc_one"}}), context());
  CHECK(out.events[0].at("distinct_id").as_string().size() == 199);
}

TEST_CASE("Token problems are 401s that say what is wrong", "[capture][payload][errors]") {
  CHECK(refusal(R"({"event":"e","distinct_id":"d"})") == std::pair<int, std::string>{401, "no project token: send it as api_key (or token) with the batch, or in each event"});
  CHECK(refusal(R"({"event":"e","distinct_id":"d","api_key":"phc_nope"})").second == "unknown project token 'phc_nope'");
  CHECK(refusal(R"({"event":"e","distinct_id":"d","api_key":"phx_personal"})").second.find("personal API key") != std::string::npos);
  CHECK(refusal(R"({"event":"e","distinct_id":"d","api_key":"phc_ünicode"})").first == 401);
  CHECK(refusal(boost::json::serialize(boost::json::object{{"event", "e"}, {"distinct_id", "d"}, {"api_key", std::string(65, 'x')}})).first == 401);
  CHECK(refusal(R"([{"event":"a","distinct_id":"d","token":"phc_one"},{"event":"b","distinct_id":"d","token":"phc_two"}])").second ==
        "the request mixes events of different project tokens");
}

TEST_CASE("Malformed bodies are 400s with the parse error's position", "[capture][payload][errors]") {
  auto const [status, message] = refusal("{\"event\": \"e\",\n  \"distinct_id\": }");
  CHECK(status == 400);
  CHECK_THAT(message, Catch::StartsWith("malformed JSON at line 2, column 18"));
  CHECK(refusal("42").first == 400);
  CHECK(refusal(R"({"api_key":"phc_one","batch":[]})") == std::pair<int, std::string>{400, "the request has no events"});
  CHECK(refusal(R"({"api_key":"phc_one","batch":{}})").first == 400);
}

TEST_CASE("A bad event in a batch is rejected alone; all bad is a 400", "[capture][payload][errors]") {
  auto out = capture(R"({"api_key":"phc_one","batch":[
      {"event":"ok","distinct_id":"d"}, {"distinct_id":"d"}, {"event":"","distinct_id":"d"},
      {"event":"no person"}, 7, {"event":"ok too","distinct_id":"e"}]})", context());
  REQUIRE(out.events.size() == 2);
  REQUIRE(out.rejected.size() == 4);
  CHECK(out.rejected[0].index == 1);
  CHECK(out.rejected[0].message == "the event has no name (\"event\")");
  CHECK(out.rejected[2].message == "the event has no distinct_id");
  CHECK(out.rejected[3].message == "an event must be a JSON object");
  auto const single = refusal(R"({"event":"e","api_key":"phc_one"})");
  CHECK(single == std::pair<int, std::string>{400, "the event has no distinct_id"});
}

}  // namespace capture_payload_test
