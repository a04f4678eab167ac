// The event writer and the routing scanner: what process mode writes and how it
// routes a line before anyone parsed it.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <cstdlib>
#include <string>

#include "common/json_lines.hpp"
#include "common/route_key.hpp"

namespace json_text_test {

using posthog::server::append_json_line;
using posthog::server::top_level_value;

namespace {
std::string line_of(const boost::json::object& o) {
  std::string out;
  append_json_line(out, o);
  return out;
}
}  // namespace

TEST_CASE("Numbers are written as JSON.stringify writes them", "[pipeline][json]") {
  CHECK(line_of({{"lat", 58.4167}}) == "{\"lat\":58.4167}\n");
  CHECK(line_of({{"lon", -0.0931}}) == "{\"lon\":-0.0931}\n");
  CHECK(line_of({{"price", 3.0}}) == "{\"price\":3}\n");
  CHECK(line_of({{"big", std::uint64_t(18446744073709551615ull)}, {"neg", std::int64_t(-5)}}) ==
        "{\"big\":18446744073709551615,\"neg\":-5}\n");
  CHECK(line_of({{"nan", std::nan("")}}) == "{\"nan\":null}\n");
}

TEST_CASE("Strings escape exactly what JSON requires and keep UTF-8", "[pipeline][json]") {
  boost::json::object o{{"s", "a\"b\\c\n\t\x01 Linköping"}, {"nested", {{"list", {1, true, nullptr, "x"}}}}};
  auto const text = line_of(o);
  CHECK(text == "{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001 Linköping\",\"nested\":{\"list\":[1,true,null,\"x\"]}}\n");
  // Whatever is written reads back to the same value.
  CHECK(boost::json::parse(text) == boost::json::value(o));
}

TEST_CASE("Round trip: doubles read back bit for bit", "[pipeline][json]") {
  // Read back with strtod: Boost 1.81's parser is itself not exact at the extremes.
  for (double d : {0.1, 1.0 / 3.0, 1e21, 1e-7, 123456789.125, -2.5e-300, 5e-324}) {
    auto const text = line_of({{"d", d}});
    auto const number = text.substr(5, text.size() - 7);  // {"d": ... }\n
    CHECK(std::strtod(number.c_str(), nullptr) == d);
  }
}

TEST_CASE("The router finds a top-level member without parsing nested values", "[pipeline][route]") {
  CHECK(top_level_value(R"({"event":"x","distinct_id":"u1"})", "distinct_id") == "u1");
  CHECK(top_level_value(R"( { "properties": {"distinct_id": "nested", "a": [1, {"b": "}"}]},
                            "distinct_id" : "top" } )",
                        "distinct_id") == "top");
  CHECK(top_level_value(R"({"distinct_id":"with \"quote\" and \\"})", "distinct_id") == R"(with \"quote\" and \\)");
  CHECK(top_level_value(R"({"distinct_id":12345,"x":1})", "distinct_id") == "12345");
  CHECK_FALSE(top_level_value(R"({"event":"x"})", "distinct_id"));
  CHECK_FALSE(top_level_value(R"({"event": "x", "distinct_id")", "distinct_id"));  // truncated
  CHECK_FALSE(top_level_value(R"(["distinct_id","x"])", "distinct_id"));          // not an object
  CHECK_FALSE(top_level_value("", "distinct_id"));
}

}  // namespace json_text_test
