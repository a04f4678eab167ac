// PartitionedWorkers: N worker threads, each with a bounded queue of batches.
//
// Batch is any movable, default-constructible type (process mode sends blocks
// of raw input lines, parsed by the worker that owns them).
// A producer sends each batch to the worker its partition key maps to, so that
// all events of one (team, distinct_id) are handled by one thread, in order.
// Queues hold batches, not events, so the lock is taken once per batch; a full
// queue blocks the producer (backpressure instead of unbounded memory). A
// worker takes everything waiting in its queue at once (up to its capacity):
// small batches that piled up while it was busy are handled as one, which is
// where a worker's per-batch costs (a sink write, a commit) are shared.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace posthog::server {

template <class Batch>
class PartitionedWorkers {
 public:
  using Handler = std::function<void(std::size_t worker, std::vector<Batch>& batches)>;

  PartitionedWorkers(std::size_t workers, std::size_t queue_batches, Handler handler)
      : queues_(workers), capacity_(queue_batches), handler_(std::move(handler)) {
    threads_.reserve(workers);
    for (std::size_t i = 0; i < workers; ++i) threads_.emplace_back([this, i] { run(i); });
  }
  ~PartitionedWorkers() { close_and_join(); }
  PartitionedWorkers(const PartitionedWorkers&) = delete;
  PartitionedWorkers& operator=(const PartitionedWorkers&) = delete;

  std::size_t size() const noexcept { return queues_.size(); }
  // Batches waiting in one worker's queue (for /metrics).
  std::size_t depth(std::size_t worker) {
    std::lock_guard lock(queues_[worker].mutex);
    return queues_[worker].batches.size();
  }

  // Blocks while the worker's queue is full.
  void push(std::size_t worker, Batch&& batch) {
    auto& q = queues_[worker];
    std::unique_lock lock(q.mutex);
    q.not_full.wait(lock, [&] { return q.batches.size() < capacity_; });
    q.batches.push_back(std::move(batch));
    q.not_empty.notify_one();
  }

  // Lets the workers finish what is queued, then joins them.
  void close_and_join() {
    for (auto& q : queues_) {
      std::lock_guard lock(q.mutex);
      q.closed = true;
      q.not_empty.notify_all();
    }
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  struct Queue {
    std::mutex mutex;
    std::condition_variable not_empty, not_full;
    std::deque<Batch> batches;
    bool closed = false;
  };

  void run(std::size_t i) {
    auto& q = queues_[i];
    std::vector<Batch> taken;
    for (;;) {
      taken.clear();
      {
        std::unique_lock lock(q.mutex);
        q.not_empty.wait(lock, [&] { return q.closed || !q.batches.empty(); });
        if (q.batches.empty()) return;
        while (!q.batches.empty()) {
          taken.push_back(std::move(q.batches.front()));
          q.batches.pop_front();
        }
        q.not_full.notify_all();
      }
      handler_(i, taken);
    }
  }

  std::vector<Queue> queues_;
  std::size_t capacity_;
  Handler handler_;
  std::vector<std::thread> threads_;
};

}  // namespace posthog::server
