// StoreJobQueue: the JobQueue of one server, in the embedded store's `jobs`
// table. Claims are an UPDATE ... RETURNING, so any number of job threads
// share it; a job found running when the store opens was cut short by a crash
// and is queued again by requeue_running().
#pragma once

#include <memory>

#include "job_queue.hpp"

namespace posthog::server {

class DurableStore;

class StoreJobQueue final : public JobQueue {
 public:
  explicit StoreJobQueue(DurableStore& store);
  ~StoreJobQueue() override;
  StoreJobQueue(const StoreJobQueue&) = delete;
  StoreJobQueue& operator=(const StoreJobQueue&) = delete;

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
  std::size_t requeue_running() override;
  std::optional<std::int64_t> next_due_ms() override;
  JobCounts counts(std::int64_t team_id, const std::string& plugin) override;
  JobCounts totals() override;
  std::vector<Job> list(std::int64_t team_id, const std::string& plugin, std::string_view state,
                        std::size_t limit) override;

 private:
  struct Statements;
  DurableStore& store_;
  std::unique_ptr<Statements> s_;
};

}  // namespace posthog::server
