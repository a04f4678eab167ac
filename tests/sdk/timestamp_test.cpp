// posthog/timestamp.hpp: ISO 8601 as clients send it, to milliseconds.
#include <catch2/catch.hpp>
#include <posthog/timestamp.hpp>

namespace timestamp_test {

TEST_CASE("ISO 8601 timestamps order events", "[sdk][time]") {
  CHECK(posthog::iso8601_millis("1970-01-01T00:00:00Z") == 0);
  CHECK(posthog::iso8601_millis("2026-01-01T00:00:00.123Z") == 1767225600123);
  CHECK(posthog::iso8601_millis("2026-01-01T01:00:00+01:00") == posthog::iso8601_millis("2026-01-01T00:00:00Z"));
  CHECK(posthog::iso8601_millis("2026-01-01 00:00:00") == posthog::iso8601_millis("2026-01-01T00:00:00Z"));
  CHECK(posthog::iso8601_millis("2026-01-01") == posthog::iso8601_millis("2026-01-01T00:00:00Z"));
  CHECK(posthog::iso8601_millis("2024-02-29T12:00:00.5-0230") == 1709217000500);
  CHECK_FALSE(posthog::iso8601_millis("yesterday"));
  CHECK_FALSE(posthog::iso8601_millis("2026-13-01T00:00:00Z"));
  CHECK_FALSE(posthog::iso8601_millis("2026-01-01T00:00:00Zjunk"));
}

}  // namespace timestamp_test
