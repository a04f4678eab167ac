// Deterministic synthetic events shaped like posthog-js traffic: $pageview,
// $autocapture and custom events with 25-40 properties, about 1 KB a line, a
// few thousand distinct_ids. The same seed gives the same bytes on every run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace posthog::bench {

std::vector<std::string> synthetic_events(std::size_t count, std::int64_t team_id, std::uint64_t seed = 42);

}  // namespace posthog::bench
