// PostHog's export options as export-events.ts read them: the ignore list
// split on commas and trimmed, the bounds clamped to 1 B..100 MiB and 1..600 s.
#include <catch2/catch.hpp>

#include <posthog/errors.hpp>

#include "config/export_settings.hpp"

namespace export_settings_test {

using posthog::server::ExportSettings;

TEST_CASE("exportEventsToIgnore is split on commas and trimmed", "[exports][settings]") {
  std::vector<std::string> notes;
  auto const s = ExportSettings::from_config({{"exportEventsToIgnore", " $pageleave,, my event ,$autocapture"}}, notes);
  CHECK(s.ignored == std::vector<std::string>{"$pageleave", "my event", "$autocapture"});
  CHECK(s.ignores("my event"));
  CHECK_FALSE(s.ignores("my"));
  CHECK_FALSE(s.buffer_bytes);  // unset: the server's bound
  CHECK(notes.empty());
}

TEST_CASE("Buffer bounds are clamped to PostHog's limits, and said so", "[exports][settings]") {
  std::vector<std::string> notes;
  auto const s = ExportSettings::from_config(
      {{"exportEventsBufferBytes", "209715200"}, {"exportEventsBufferSeconds", " 0 "}}, notes);
  CHECK(s.buffer_bytes == 100u * 1024 * 1024);
  CHECK(s.buffer_age == std::chrono::seconds(1));
  REQUIRE(notes.size() == 2);
  CHECK(notes[0].find("exportEventsBufferBytes 209715200 is outside 1 to 104857600") == 0);
  auto const ok = ExportSettings::from_config({{"exportEventsBufferSeconds", "30"}}, notes);
  CHECK(ok.buffer_age == std::chrono::seconds(30));
}

TEST_CASE("A bound that is not a whole number is refused, naming the field", "[exports][settings]") {
  std::vector<std::string> notes;
  try {
    ExportSettings::from_config({{"exportEventsBufferBytes", "1 MiB"}}, notes);
    FAIL("accepted");
  } catch (const posthog::ConfigError& e) {
    CHECK(e.field() == "exportEventsBufferBytes");
    CHECK(std::string(e.what()).find("'1 MiB' is not a whole number") != std::string::npos);
  }
}

}  // namespace export_settings_test
