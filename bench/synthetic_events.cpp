#include "synthetic_events.hpp"

#include <algorithm>

#include <boost/json.hpp>
#include <random>

namespace posthog::bench {

namespace {

// A public IPv4 address derived from the person: first octets outside the
// private, loopback, CGNAT, link-local and multicast ranges.
std::string public_address(std::uint64_t person) {
  std::uint64_t h = (person + 1) * 0x9e3779b97f4a7c15ull;
  h ^= h >> 31;
  unsigned a = 1 + static_cast<unsigned>(h % 223);
  if (a == 10 || a == 100 || a == 127 || a == 169 || a == 172 || a == 192) ++a;
  return std::to_string(a) + "." + std::to_string(h >> 8 & 255) + "." + std::to_string(h >> 16 & 255) + "." +
         std::to_string(1 + (h >> 24) % 254);
}

}  // namespace

std::vector<std::string> synthetic_events(std::size_t count, std::int64_t first_team, std::uint64_t seed,
                                          std::int64_t teams) {
  std::uint64_t const people = teams > 1 ? static_cast<std::uint64_t>(teams) * 3 : 5000;
  std::mt19937_64 rng(seed);
  auto pick = [&](auto const& options) { return options[rng() % std::size(options)]; };
  static const char* names[] = {"$pageview", "$pageview", "$autocapture", "$pageleave", "signed up",
                                "purchase", "$identify", "feature used"};
  static const char* browsers[] = {"Chrome", "Firefox", "Safari", "Edge"};
  static const char* oses[] = {"Windows", "Mac OS X", "Linux", "iOS", "Android"};
  static const char* paths[] = {"/", "/pricing", "/docs/getting-started", "/blog/how-we-built-it", "/signup",
                                "/app/insights", "/app/dashboards/42"};
  static const char* refs[] = {"$direct", "https://www.google.com/", "https://news.ycombinator.com/",
                               "https://twitter.com/"};
  std::vector<std::string> lines;
  lines.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto const person = rng() % people;
    std::int64_t const team_id = first_team + static_cast<std::int64_t>(person % static_cast<std::uint64_t>(teams));
    char uuid[40];
    std::snprintf(uuid, sizeof uuid, "018f%04x-%04x-7%03x-8%03x-%012llx", unsigned(i >> 16 & 0xffff),
                  unsigned(i & 0xffff), unsigned(rng() & 0xfff), unsigned(rng() & 0xfff),
                  static_cast<unsigned long long>(rng() & 0xffffffffffffull));
    std::string path = pick(paths);
    boost::json::object props{
        {"$os", pick(oses)},
        {"$browser", pick(browsers)},
        {"$device_type", rng() % 3 ? "Desktop" : "Mobile"},
        {"$current_url", "https://example.com" + path + "?utm_source=newsletter&ref=" + std::to_string(rng() % 100)},
        {"$host", "example.com"},
        {"$pathname", path},
        {"$browser_version", static_cast<std::int64_t>(100 + rng() % 30)},
        {"$browser_language", "en-US"},
        {"$screen_height", 1080},
        {"$screen_width", 1920},
        {"$viewport_height", static_cast<std::int64_t>(700 + rng() % 300)},
        {"$viewport_width", static_cast<std::int64_t>(1200 + rng() % 700)},
        {"$lib", "web"},
        {"$lib_version", "1.449.0"},
        {"$insert_id", std::to_string(rng())},
        {"$time", 1732000000.0 + static_cast<double>(i) / 10},
        {"distinct_id", "person-" + std::to_string(person)},
        {"$device_id", "0190" + std::to_string(person * 7919)},
        {"$initial_referrer", pick(refs)},
        {"$initial_referring_domain", "www.google.com"},
        {"$referrer", pick(refs)},
        {"$referring_domain", "$direct"},
        {"$session_id", "0190b-" + std::to_string(person) + "-" + std::to_string(i / 50)},
        {"$window_id", "0190c-" + std::to_string(rng() % 100000)},
        {"$pageview_id", "0190d-" + std::to_string(rng() % 100000)},
        {"token", "phc_bench"},
        {"$is_identified", rng() % 2 == 0},
        {"$process_person_profile", true},
        {"$ip", teams > 1 ? public_address(person) : "89.160.20." + std::to_string(rng() % 250 + 1)},
        {"email", "person" + std::to_string(person) + "@example.com"},
    };
    auto extra = rng() % 11;  // 30..40 properties in all
    for (std::size_t k = 0; k < extra; ++k) props["custom_" + std::to_string(k)] = "value-" + std::to_string(rng() % 1000);
    boost::json::object event{{"uuid", uuid},
                              {"event", pick(names)},
                              {"distinct_id", "person-" + std::to_string(person)},
                              {"team_id", team_id},
                              {"ip", "89.160.20.112"},
                              {"site_url", "https://example.com"},
                              {"now", "2026-11-23T12:00:00.000Z"},
                              {"sent_at", "2026-11-23T12:00:00.000Z"},
                              {"timestamp", "2026-11-23T11:59:59.500Z"},
                              {"properties", std::move(props)}};
    lines.push_back(boost::json::serialize(event));
  }
  return lines;
}

std::vector<std::string> batch_bodies(const std::vector<std::string>& lines, std::size_t size) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lines.size(); i += size) {
    std::string body = "{\"api_key\":\"phc_bench\",\"batch\":[";
    for (std::size_t j = i; j < std::min(lines.size(), i + size); ++j) body += (j > i ? "," : "") + lines[j];
    out.push_back(body + "]}");
  }
  return out;
}

}  // namespace posthog::bench
