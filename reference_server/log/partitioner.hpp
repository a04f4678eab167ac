// The one partitioner: which partition of the event log a person's events go
// to. Every capture server must send a person's events to the same partition,
// and every worker must find them there, so the function is stable across
// processes, builds and machines (FNV-1a over the team id's bytes and the
// distinct_id), never std::hash.
//
//   std::size_t p = partition_of(team_id, distinct_id, log.partitions());
//   std::size_t worker = p % workers;   // one worker thread per partition: order kept
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace posthog::server {

inline std::size_t partition_of(std::int64_t team_id, std::string_view distinct_id, std::size_t partitions) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&](unsigned char c) {
    h ^= c;
    h *= 1099511628211ull;
  };
  auto const team = static_cast<std::uint64_t>(team_id);
  for (int i = 0; i < 8; ++i) mix(static_cast<unsigned char>(team >> (8 * i)));
  for (unsigned char c : distinct_id) mix(c);
  return partitions ? static_cast<std::size_t>(h % partitions) : 0;
}

}  // namespace posthog::server
