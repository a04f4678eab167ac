// JobQueue: where jobs wait, whichever store holds them.
//
// A job is a (team, plugin, handler name, JSON payload, when). It is queued by
// meta.jobs(...).run_*() and by the Scheduler (handler names starting with '$'
// are the server's: "$run_every_minute" and so on). A job thread claims the
// oldest due one (queued -> running), runs it, and then deletes it, puts it
// back with a later time (RetryError), or marks it failed, where it stays,
// visible through the admin API, until replayed. Jobs run at least once: one
// whose server died while running it is queued again (StoreJobQueue: when the
// store opens again; RedisJobQueue: when its visibility timeout ends, on
// whichever server claims it).
//
//   StoreJobQueue queue(store);   // or RedisJobQueue queue(pool, prefix, visibility);
//   queue.enqueue(2, "backfill", "page", R"({"offset":100})", run_at_ms, now_ms);
//   while (auto job = queue.claim(now_ms)) { ...; queue.done(job->id); }
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace posthog::server {

class DurableStore;

struct Job {
  std::int64_t id = 0;
  std::int64_t team_id = 0;
  std::string plugin;
  std::string name;
  std::string payload;  // JSON text
  std::int64_t run_at_ms = 0;
  int attempt = 0;  // failed attempts so far
  std::string state;  // queued, running, failed
  std::string last_error;
  std::int64_t created_ms = 0;
  std::string claim;  // a shared queue's token for this claim (empty in the embedded store)
};

// A shared queue's claim on a job ran out while it ran (it outlived the
// visibility timeout) and another server claimed it: this server's outcome is
// not recorded, the other's run decides.
class JobClaimLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct JobCounts {
  std::uint64_t queued = 0;  // including those waiting for a retry
  std::uint64_t running = 0;
  std::uint64_t failed = 0;
  std::int64_t next_run_at_ms = 0;  // of the earliest queued job; 0: none
};

class JobQueue {
 public:
  virtual ~JobQueue() = default;

  // Returns the job's id. run_at_ms <= 0: due now. Throws the store's error.
  virtual std::int64_t enqueue(std::int64_t team_id, std::string_view plugin, std::string_view name,
                               std::string_view payload, std::int64_t run_at_ms, std::int64_t now_ms) = 0;
  // One job `name` for each (team, plugin), in one atomic step, except for the
  // copies whose previous `name` job is still queued or running: those are
  // returned (PostHog skipped a scheduled run while the last one was going).
  virtual std::vector<std::pair<std::int64_t, std::string>> enqueue_unless_pending(
      const std::vector<std::pair<std::int64_t, std::string>>& copies, std::string_view name, std::string_view payload,
      std::int64_t now_ms) = 0;
  // The oldest due queued job, now marked running; nullopt when none is due.
  virtual std::optional<Job> claim(std::int64_t now_ms) = 0;
  // `claim`: the token claim() gave (a shared queue refuses a stale one with
  // JobClaimLost); empty: none checked.
  virtual void done(std::int64_t id, std::string_view claim = {}) = 0;
  virtual void retry_later(std::int64_t id, int attempt, std::int64_t run_at_ms, const std::string& error,
                           std::string_view claim = {}) = 0;
  virtual void fail(std::int64_t id, int attempt, const std::string& error, std::string_view claim = {}) = 0;
  // A failed job due again, its attempts counted from zero. False: no such failed job.
  virtual bool replay(std::int64_t id, std::int64_t now_ms) = 0;
  // Jobs left running by this store's last process, which died: queued again.
  // Call before any claim. (A shared queue gives them back by timeout instead.)
  virtual std::size_t requeue_running() = 0;
  // When the earliest queued job is due; nullopt when none is queued.
  virtual std::optional<std::int64_t> next_due_ms() = 0;

  virtual JobCounts counts(std::int64_t team_id, const std::string& plugin) = 0;
  virtual JobCounts totals() = 0;
  // Jobs of (team, plugin) in `state`, oldest first, payloads cut at 4 KiB.
  virtual std::vector<Job> list(std::int64_t team_id, const std::string& plugin, std::string_view state,
                                std::size_t limit) = 0;
};

}  // namespace posthog::server
