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
//   live.update([&](const ChainSet& now) {             // admin, hot swap
//     return ChainSet::with_team(now, spec, services);
//   });
//
// Changes go through update(), one at a time: each builds on the set the last
// one published, so a team change and a module swap arriving together cannot
// lose either. Every publish is a new generation (the first set is 1).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "chain_set.hpp"

namespace posthog::server {

class LiveChains {
 public:
  LiveChains() : current_(std::make_shared<const ChainSet>()) {}
  explicit LiveChains(std::shared_ptr<const ChainSet> initial) : current_(std::move(initial)), generation_(1) {}

  std::shared_ptr<const ChainSet> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void publish(std::shared_ptr<const ChainSet> next) {
    std::lock_guard edit(edit_mutex_);
    swap_in(std::move(next));
  }

  // Builds the next set from the current one with `make_next(const ChainSet&)`
  // and publishes it, holding off every other change meanwhile. An exception
  // from make_next, or a null set, publishes nothing. Returns the replaced set, unpinned: it
  // expires once the last batch that pinned it is done (see ModuleSwap).
  template <class MakeNext>
  std::weak_ptr<const ChainSet> update(MakeNext&& make_next) {
    std::lock_guard edit(edit_mutex_);
    std::shared_ptr<const ChainSet> next = make_next(*current());
    if (!next) return {};
    return swap_in(std::move(next));
  }

  std::uint64_t generation() const {
    std::lock_guard lock(mutex_);
    return generation_;
  }

 private:
  std::weak_ptr<const ChainSet> swap_in(std::shared_ptr<const ChainSet> next) {
    std::shared_ptr<const ChainSet> old;
    {
      std::lock_guard lock(mutex_);
      old = std::exchange(current_, std::move(next));
      ++generation_;
    }
    // `old` is released here, outside the lock: if this was its last pin, its
    // teardown hooks run now.
    return old;
  }

  std::mutex edit_mutex_;  // one change at a time
  mutable std::mutex mutex_;
  std::shared_ptr<const ChainSet> current_;
  std::uint64_t generation_ = 0;  // the empty set a default LiveChains starts with
};

}  // namespace posthog::server
