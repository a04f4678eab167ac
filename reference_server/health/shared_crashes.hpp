// Worker crashes kept in Redis, for a cluster: the supervisor of the worker
// that crashed writes its crash here, and every supervised worker reads the
// list (at start, then every second), so that whichever server takes over
// the dead worker's stream partitions skips the plugin for the event that
// crashed it instead of crashing in turn.
//
// One list, `<prefix>worker_crashes`, newest first, the last 1,000 kept; each
// entry is a WorkerCrash as JSON.
//
//   keep_worker_crash(pool, prefix, crash);                 // the supervisor
//   auto crashes = load_worker_crashes(pool, prefix);       // oldest first
#pragma once

#include <string>
#include <vector>

#include "worker_crash.hpp"

namespace posthog::server {

class RedisPool;

constexpr std::size_t max_shared_crashes = 1000;

// Throws StoreFailure (RedisUnavailable, RedisCommandError).
void keep_worker_crash(RedisPool& pool, const std::string& prefix, const WorkerCrash& crash);
std::vector<WorkerCrash> load_worker_crashes(RedisPool& pool, const std::string& prefix);

}  // namespace posthog::server
