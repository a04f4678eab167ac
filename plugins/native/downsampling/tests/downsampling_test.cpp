#include <catch2/catch.hpp>
#include <posthog/testing.hpp>

#include <string>

#include "../downsampling.hpp"
#include "../sha256.hpp"

using posthog::plugins::Downsampling;
using posthog::testing::make_event;
using posthog::testing::PluginHarness;

namespace {
std::string hex(const std::array<std::uint8_t, 32>& d) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (auto b : d) s += digits[b >> 4], s += digits[b & 15];
  return s;
}
int kept_of(PluginHarness<Downsampling>& plugin, int people) {
  int kept = 0;
  for (int i = 0; i < people; ++i)
    kept += plugin.process_event(make_event("e", {}, "person-" + std::to_string(i))).has_value();
  return kept;
}
}  // namespace

TEST_CASE("SHA-256 matches the standard's test vectors", "[downsampling][sha256]") {
  using posthog::plugins::downsampling::sha256;
  CHECK(hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(hex(sha256(std::string(1000, 'a'))) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST_CASE("downsampling decides from the distinct_id exactly as PostHog", "[downsampling]") {
  // Values computed with PostHog's formula (sha256 hex, first 15 digits / 0xfffffffffffffff).
  CHECK(Downsampling::decision_value("user-1") == Approx(0.7764059241441005).epsilon(1e-15));
  CHECK(Downsampling::decision_value("person-42") == Approx(0.7067564629277088).epsilon(1e-15));
  PluginHarness<Downsampling> at_78({{"percentage", "78"}});
  PluginHarness<Downsampling> at_77({{"percentage", "77"}});
  CHECK(at_78.process_event(make_event("e", {}, "user-1")));
  CHECK_FALSE(at_77.process_event(make_event("e", {}, "user-1")));
}

TEST_CASE("downsampling keeps or drops a person's events together", "[downsampling]") {
  PluginHarness<Downsampling> plugin({{"percentage", "50"}});
  for (int i = 0; i < 50; ++i) {
    auto const id = "person-" + std::to_string(i);
    bool const first = plugin.process_event(make_event("a", {}, id)).has_value();
    for (auto name : {"b", "c", "$pageview"}) CHECK(plugin.process_event(make_event(name, {}, id)).has_value() == first);
  }
  int const kept = kept_of(plugin, 10000);
  CHECK(kept > 4800);
  CHECK(kept < 5200);
}

TEST_CASE("downsampling: raising the percentage only adds people", "[downsampling]") {
  PluginHarness<Downsampling> low({{"percentage", "10"}}), high({{"percentage", "30"}});
  for (int i = 0; i < 2000; ++i) {
    auto e = make_event("e", {}, "p" + std::to_string(i));
    if (low.process_event(e)) CHECK(high.process_event(e));
  }
}

TEST_CASE("downsampling at 0% and 100%", "[downsampling]") {
  PluginHarness<Downsampling> none({{"percentage", "0"}}), all({{"percentage", "100"}}), fallback;
  CHECK(kept_of(none, 1000) == 0);
  CHECK(kept_of(all, 1000) == 1000);
  CHECK(kept_of(fallback, 1000) == 1000);  // the default is 100
}

TEST_CASE("downsampling by uuid decides per event, the same way every time", "[downsampling]") {
  PluginHarness<Downsampling> plugin({{"percentage", "50"}, {"samplingMethod", "Event UUID sampling"}});
  int kept = 0;
  for (int i = 0; i < 2000; ++i) {
    auto e = make_event("e", {}, "same-person");
    bool const first = plugin.process_event(e).has_value();
    CHECK(plugin.process_event(e).has_value() == first);  // a retry agrees
    kept += first;
  }
  CHECK(kept > 850);
  CHECK(kept < 1150);
}

TEST_CASE("downsampling's random sampling follows PostHog's coin", "[downsampling]") {
  PluginHarness<Downsampling> all({{"percentage", "100"}, {"samplingMethod", "Random sampling"}});
  CHECK(kept_of(all, 500) == 500);
  PluginHarness<Downsampling> half({{"percentage", "50"}, {"samplingMethod", "Random sampling"}});
  int const kept = kept_of(half, 4000);
  CHECK(kept > 1600);
  CHECK(kept < 2400);
}

TEST_CASE("downsampling refuses a percentage that is not 0 to 100, naming the field", "[downsampling][config]") {
  for (auto bad : {"abc", "101", "-1", "1e400"}) {  // an empty value means the default, 100
    CAPTURE(bad);
    try {
      PluginHarness<Downsampling> plugin({{"percentage", bad}});
      FAIL("accepted");
    } catch (const posthog::ConfigError& e) {
      CHECK_THAT(e.what(), Catch::Contains("'percentage'") && Catch::Contains("between 0 and 100"));
    }
  }
  // parseFloat semantics: a numeric prefix is the number.
  PluginHarness<Downsampling> prefix({{"percentage", " 100%"}});
  CHECK(kept_of(prefix, 10) == 10);
  CHECK_THROWS_AS(PluginHarness<Downsampling>({{"samplingMethod", "Sometimes"}}), posthog::ConfigError);
}

TEST_CASE("downsampling's team copy is 16 bytes and cannot fail", "[downsampling][memory]") {
  STATIC_REQUIRE(sizeof(Downsampling) <= 16);
  STATIC_REQUIRE(posthog::capabilities_of<Downsampling>() & POSTHOG_CAP_PROCESS_EVENT_NOEXCEPT);
}

TEST_CASE("downsampling keeps an event without a distinct_id, and logs it", "[downsampling]") {
  PluginHarness<Downsampling> plugin({{"percentage", "0"}});
  boost::json::object anonymous{{"uuid", "u"}, {"event", "e"}, {"team_id", 1}, {"distinct_id", 42}};
  CHECK(*plugin.process_event(anonymous) == anonymous);
  REQUIRE(plugin.logs().size() == 1);
  CHECK(plugin.logs()[0].level == POSTHOG_LOG_WARN);
  CHECK_THAT(plugin.logs()[0].message, Catch::Contains("no distinct_id"));
}
