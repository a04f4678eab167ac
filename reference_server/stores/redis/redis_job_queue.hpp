// RedisJobQueue: the JobQueue shared by every server of a cluster.
//
// A job is a hash, <prefix>job:<id>; its id sits in one of three sorted sets:
// jobs:queued (by due time), jobs:running (by when its claim runs out) and
// jobs:failed; jobs:of:<team>:<plugin> indexes them for the admin API. A
// claim is one script: running jobs whose claim ran out are queued again (their
// server died, or the job outlived `visibility`), then the oldest due job moves
// to jobs:running. So a job whose server is SIGKILLed runs again on another
// server once its visibility timeout ends, and a job that runs longer than the
// timeout may run twice: jobs run at least once, as in the embedded queue.
// Each claim writes a new token into the job; done, retry_later and fail
// check it, so a server whose claim ran out cannot delete, requeue or fail a
// job another server now runs (JobClaimLost instead). Due times and claims
// are on the callers' clocks: keep the servers' clocks in sync (NTP).
//
// Keys are computed inside the scripts from the prefix: one Redis (with
// replicas), not Redis Cluster.
//
//   RedisJobQueue queue(pool, "posthog-plugin-server:", std::chrono::minutes(5));
#pragma once

#include <chrono>

#include "stores/job_queue.hpp"

namespace posthog::server {

class RedisPool;

class RedisJobQueue final : public JobQueue {
 public:
  RedisJobQueue(RedisPool& pool, std::string prefix, std::chrono::milliseconds visibility);

  std::int64_t enqueue(std::int64_t team_id, std::string_view plugin, std::string_view name, std::string_view payload,
                       std::int64_t run_at_ms, std::int64_t now_ms) override;
  std::vector<std::pair<std::int64_t, std::string>> enqueue_unless_pending(
      const std::vector<std::pair<std::int64_t, std::string>>& copies, std::string_view name, std::string_view payload,
      std::int64_t now_ms) override;
  std::optional<Job> claim(std::int64_t now_ms) override;
  void done(std::int64_t id, std::string_view claim = {}) override;
  void retry_later(std::int64_t id, int attempt, std::int64_t run_at_ms, const std::string& error,
                   std::string_view claim = {}) override;
  void fail(std::int64_t id, int attempt, const std::string& error, std::string_view claim = {}) override;
  bool replay(std::int64_t id, std::int64_t now_ms) override;
  // Nothing to do: a running job of a server that died comes back by its timeout.
  std::size_t requeue_running() override { return 0; }
  std::optional<std::int64_t> next_due_ms() override;
  JobCounts counts(std::int64_t team_id, const std::string& plugin) override;
  JobCounts totals() override;
  std::vector<Job> list(std::int64_t team_id, const std::string& plugin, std::string_view state,
                        std::size_t limit) override;

 private:
  std::vector<Job> jobs_of(std::int64_t team_id, const std::string& plugin);

  RedisPool& pool_;
  std::string prefix_;
  std::chrono::milliseconds visibility_;
};

}  // namespace posthog::server
