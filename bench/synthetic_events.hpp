// Deterministic synthetic events shaped like posthog-js traffic: $pageview,
// $autocapture and custom events with 25-40 properties, about 1 KB a line, a
// few thousand distinct_ids. The same seed gives the same bytes on every run.
// With `teams` > 1, people are spread over team ids first_team .. first_team +
// teams - 1 (three people a team), each with a stable public IPv4 address of
// its own, so GeoIP lookups touch the whole database.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace posthog::bench {

std::vector<std::string> synthetic_events(std::size_t count, std::int64_t first_team, std::uint64_t seed = 42,
                                          std::int64_t teams = 1);

// The lines as PostHog /batch/ bodies of `size` events each, for the token phc_bench.
std::vector<std::string> batch_bodies(const std::vector<std::string>& lines, std::size_t size);

}  // namespace posthog::bench
