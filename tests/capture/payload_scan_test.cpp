// The capture body's one checking pass: JSON's grammar as Boost.JSON reads it,
// the events found, and every limit met at the limit.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "capture/capture_error.hpp"
#include "capture/payload_scan.hpp"

namespace payload_scan_test {

using posthog::server::CaptureError;
using posthog::server::PayloadLimits;
using posthog::server::PayloadShape;
using posthog::server::scan_payload;

namespace {

// 0 when scanned, else the status it was refused with.
int status_of(std::string_view json, PayloadLimits limits = {}) {
  try {
    (void)scan_payload(json, limits);
  } catch (const CaptureError& e) {
    return e.status();
  }
  return 0;
}

std::string message_of(std::string_view json, PayloadLimits limits = {}) {
  try {
    (void)scan_payload(json, limits);
  } catch (const CaptureError& e) {
    return e.what();
  }
  return {};
}

}  // namespace

TEST_CASE("The three shapes and where each event's text is", "[capture][scan]") {
  std::string const one = R"( {"event":"e","distinct_id":"d"} )";
  auto scan = scan_payload(one, {});
  CHECK(scan.shape == PayloadShape::single_event);
  REQUIRE(scan.events.size() == 1);
  CHECK(one.substr(scan.events[0].begin, scan.events[0].size()) == R"({"event":"e","distinct_id":"d"})");

  std::string const array = R"([{"event":"a"} , 7, [1,[2]], "s", {}])";
  scan = scan_payload(array, {});
  CHECK(scan.shape == PayloadShape::event_array);
  REQUIRE(scan.events.size() == 5);
  CHECK(array.substr(scan.events[0].begin, scan.events[0].size()) == R"({"event":"a"})");
  CHECK(array.substr(scan.events[1].begin, scan.events[1].size()) == "7");
  CHECK(array.substr(scan.events[2].begin, scan.events[2].size()) == "[1,[2]]");
  CHECK(array.substr(scan.events[3].begin, scan.events[3].size()) == R"("s")");
  CHECK(array.substr(scan.events[4].begin, scan.events[4].size()) == "{}");

  std::string const batch = R"({"api_key":"k","n":{"batch":1},"batch":[{"a":1},{"b":[]}],"sent_at":"x"})";
  scan = scan_payload(batch, {});
  CHECK(scan.shape == PayloadShape::batch);
  REQUIRE(scan.events.size() == 2);
  CHECK(batch.substr(scan.events[1].begin, scan.events[1].size()) == R"({"b":[]})");
  CHECK(scan_payload("[]", {}).events.empty());
  CHECK(scan_payload(R"({"batch":[]})", {}).events.empty());
}

TEST_CASE("Shapes capture cannot take are refused with what is wrong", "[capture][scan][errors]") {
  CHECK_THAT(message_of("42"), Catch::Contains("must be an event, an array of events or a batch"));
  CHECK_THAT(message_of("nonsense"), Catch::Contains("malformed JSON at line 1, column 1"));
  CHECK_THAT(message_of(R"({"batch":{}})"), Catch::Contains("\"batch\" must be an array"));
  CHECK_THAT(message_of(R"({"batch":"x"})"), Catch::Contains("\"batch\" must be an array"));
  CHECK_THAT(message_of(R"({"batch":[],"batch":[]})"), Catch::Contains("\"batch\" twice"));
  CHECK_THAT(message_of("{\"a\":1,\n \"b\": }"), Catch::Contains("line 2, column 7"));
  CHECK_THAT(message_of(""), Catch::Contains("empty"));
}

TEST_CASE("The events limit is met exactly at the limit", "[capture][scan][limits]") {
  PayloadLimits limits;
  limits.max_events = 3;
  CHECK(status_of("[1,2,3]", limits) == 0);
  CHECK(status_of("[1,2,3,4]", limits) == 413);
  CHECK(status_of(R"({"batch":[{},{},{}]})", limits) == 0);
  CHECK(status_of(R"({"batch":[{},{},{},{}]})", limits) == 413);
  CHECK_THAT(message_of("[1,2,3,4]", limits), Catch::Contains("more than 3 events"));
  // Refused as soon as it is known: the rest of the text is not even read.
  CHECK(status_of("[1,2,3,4, this is not JSON", limits) == 413);
}

TEST_CASE("Nesting is limited at the limit, without recursion", "[capture][scan][limits]") {
  PayloadLimits limits;
  limits.max_depth = 4;
  CHECK(status_of("[[[[1]]]]", limits) == 0);
  CHECK(status_of("[[[[[1]]]]]", limits) == 400);
  CHECK_THAT(message_of("[[[[[1]]]]]", limits), Catch::Contains("nested deeper than 4 levels at line 1, column 5"));
  // The default takes what clients send and stops a bomb at once.
  CHECK(status_of(std::string(128, '[') + std::string(128, ']')) == 0);
  CHECK(status_of(std::string(10'000'000, '[')) == 400);
}

TEST_CASE("Numbers the event type would change mark their event", "[capture][scan][numbers]") {
  auto problems = [](std::string_view json) {
    std::vector<std::string> out;
    for (auto const& e : scan_payload(json, {}).events) out.push_back(e.problem);
    return out;
  };
  auto const p = problems(R"([{"n":1e400},{"n":-1E+309},{"n":1e-400},{"n":0.0e999999999999},
      {"n":18446744073709551615},{"n":18446744073709551616},{"n":-9223372036854775808},{"n":-9223372036854775809},
      {"n":123456789012345678901234},{"n":1.5},{"deep":[{"x":[1e999]}]},{"n":17976931348623157e292},{"n":17976931348623159e292}])");
  REQUIRE(p.size() == 13);
  CHECK_THAT(p[0], Catch::Contains("1e400 is beyond the range of a double"));
  CHECK_THAT(p[1], Catch::Contains("beyond the range"));
  CHECK(p[2].empty());  // underflow reads as 0, as any parser rounds
  CHECK(p[3].empty());  // zero, whatever its exponent
  CHECK(p[4].empty());  // the largest uint64
  CHECK_THAT(p[5], Catch::Contains("beyond 64 bits"));
  CHECK(p[6].empty());  // the smallest int64
  CHECK_THAT(p[7], Catch::Contains("beyond 64 bits"));
  CHECK_THAT(p[8], Catch::Contains("beyond 64 bits"));
  CHECK(p[9].empty());
  CHECK_THAT(p[10], Catch::Contains("beyond the range"));
  CHECK(p[11].empty());  // just under DBL_MAX
  CHECK_THAT(p[12], Catch::Contains("beyond the range"));
  // A single event owns every number in it; a batch's own fields belong to no event.
  CHECK_THAT(scan_payload(R"({"event":"e","n":1e400})", {}).events.at(0).problem, Catch::Contains("beyond"));
  CHECK(scan_payload(R"({"x":1e400,"batch":[{"n":1}]})", {}).events.at(0).problem.empty());
}

TEST_CASE("The scan accepts exactly the JSON Boost.JSON accepts", "[capture][scan][grammar]") {
  // Each text is checked against Boost.JSON's own parse (the one that runs
  // next): the scan must neither let through what the parse refuses nor
  // refuse what it takes.
  std::vector<std::string> const texts = {
      R"([1,2])", R"([1,2,])", R"([01])", R"([-])", R"([-0])", R"([1.])", R"([.5])", R"([1e])", R"([1e+])",
      R"([1E-2])", R"([tru])", R"([true])", R"([nul])", R"([null ])", R"(["\u00e9"])", R"(["\u00g9"])",
      R"(["\ud83d\ude00"])", R"(["\ud83d"])", R"(["\ude00"])", R"(["\ud83d\u0041"])", R"(["\x"])", R"(["a\/b"])",
      "[\"\t\"]", "[\"\x7f\"]", "[\"\xc3\xa9\"]", "[\"\xc3\"]", "[\"\xe0\x80\xaf\"]", "[\"\xed\xa0\x80\"]",
      "[\"\xf4\x90\x80\x80\"]", "[\"\xf0\x9f\x98\x80\"]", "[\"\xc0\xaf\"]", "[\"\xff\"]", R"({"a":1})", R"({"a" 1})",
      R"({"a":1,})", R"({a:1})", R"({"a":1 "b":2})", R"([1 2])", "[1]\n", "[1] x", R"([{}])", R"([[]])", R"(["a)",
      R"([)", R"({"a":[1,{"b":null}]})", "[\"abcdefghijklmnop\\\"qrstuvwxyz0123456789\"]", " \r\n\t[ 1 ]\r\n"};
  for (auto const& text : texts) {
    INFO(text);
    boost::json::parse_options options;
    options.max_depth = 128;
    boost::system::error_code ec;
    (void)boost::json::parse(text, ec, {}, options);
    CHECK((status_of(text) == 0) == !ec);
  }
}

}  // namespace payload_scan_test
