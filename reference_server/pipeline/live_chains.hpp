// LiveChains: the ChainSet the server is running now, replaced whole when a
// team's chain changes (admin API) or a module is swapped.
//
// Readers pin the current set with current() (a shared_ptr copy, once per batch
// or request) and keep using it until they let go, so a replaced set, and the
// team copies only it still holds, is torn down by whoever releases it last,
// never under a worker's feet. A mutex rather than std::atomic<shared_ptr>:
// it is taken once per batch, and ThreadSanitizer understands it.
//
//   LiveChains live(ChainSet::build(config, modules, services, refusals));
//   auto pinned = live.current();                  // worker: begin of a batch
//   live.publish(ChainSet::with_team(*pinned, spec, services));   // admin
#pragma once

#include <memory>
#include <mutex>

#include "chain_set.hpp"

namespace posthog::server {

class LiveChains {
 public:
  LiveChains() : current_(std::make_shared<const ChainSet>()) {}
  explicit LiveChains(std::shared_ptr<const ChainSet> initial) : current_(std::move(initial)) {}

  std::shared_ptr<const ChainSet> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void publish(std::shared_ptr<const ChainSet> next) {
    std::shared_ptr<const ChainSet> old;
    {
      std::lock_guard lock(mutex_);
      old = std::exchange(current_, std::move(next));
    }
    // `old` is released here, outside the lock: if this was its last pin, its
    // teardown hooks run now.
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const ChainSet> current_;
};

}  // namespace posthog::server
