// UUIDv7 and ISO 8601 stamps, formatted by hand: checked against the C library.
#include <catch2/catch.hpp>

#include <cstdio>
#include <ctime>
#include <set>

#include "common/event_ids.hpp"

namespace event_ids_test {

using namespace posthog::server;

namespace {

std::string libc_iso8601(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(((ms % 1000) + 1000) % 1000));
  return out;
}

std::chrono::system_clock::time_point at(std::int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

}  // namespace

TEST_CASE("ISO 8601 stamps match the C library's calendar", "[pipeline][ids]") {
  CHECK(iso8601(at(0)) == "1970-01-01T00:00:00.000Z");
  CHECK(iso8601(at(1709164800123)) == "2024-02-29T00:00:00.123Z");  // leap day
  CHECK(iso8601(at(951868800000)) == "2000-03-01T00:00:00.000Z");   // after a 400-year leap day
  CHECK(iso8601(at(-1)) == "1969-12-31T23:59:59.999Z");
  // Every ~37 hours across 60 years, and every millisecond digit.
  for (std::int64_t ms = 0; ms < 60LL * 365 * 86400000; ms += 133333337) {
    CAPTURE(ms);
    REQUIRE(iso8601(at(ms)) == libc_iso8601(ms));
  }
}

TEST_CASE("UUIDv7: version, variant, time prefix, no repeats", "[pipeline][ids]") {
  auto const now = at(1795000000000);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto const u = make_uuid_v7(now);
    REQUIRE(u.size() == 36);
    CHECK(u[8] == '-');
    CHECK(u[13] == '-');
    CHECK(u[14] == '7');
    CHECK(std::string("89ab").find(u[19]) != std::string::npos);
    CHECK(u.substr(0, 13) == "01a1ee56-5e00");  // 1795000000000 ms = 0x01a1ee565e00, the first 48 bits
    seen.insert(u);
  }
  CHECK(seen.size() == 1000);
}

}  // namespace event_ids_test
