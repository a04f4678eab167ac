// RequestArena: where a capture request's events are parsed, shared by them
// until the last one is written.
//
// One bump allocator per request: parsing a batch costs no malloc per value,
// and the whole batch is freed in one piece when its last event is destroyed
// (boost::json's shared storage counts the owners). Unlike a plain
// monotonic_resource it may be used from several threads: a request's events
// are split between the workers that own their people, and plugins writing to
// two of them at once allocate from the same arena. A spinlock suffices: the
// critical section is a pointer bump, and the parse itself is single-threaded.
//
// While the body is parsed the arena has a budget: JSON made of tiny values
// (`[1,1,1,...]` takes 16 bytes a value for 2 bytes of text) may not expand
// past a multiple of its text. Over it the parse stops with a 413, having
// spent at most the budget. The plugins that later write into the events are
// not held to it (the budget is lifted).
#pragma once

#include <atomic>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/storage_ptr.hpp>
#include <cstddef>
#include <memory>
#include <new>

#include "capture_error.hpp"

namespace posthog::server {

// Thrown (as a 413) when a parse would take more memory than its budget.
[[noreturn]] inline void parse_over_budget(std::size_t budget) {
  throw CaptureError(413, "too_large",
                     "the request's JSON takes more than " + std::to_string(budget) +
                         " bytes of memory once parsed (too many tiny values): send fewer or larger ones");
}

// How much a parse may take from its arena; the caller lifts it once the
// parse is over. Shared with the arena, which the caller cannot reach again
// once boost::json holds it.
struct ParseBudget {
  explicit ParseBudget(std::size_t bytes) : limit(bytes) {}
  std::size_t limit;
  std::size_t used = 0;           // guarded by the arena's lock
  std::atomic<bool> lifted{false};
};

class RequestArena final : public boost::json::memory_resource {
 public:
  static boost::json::storage_ptr make(std::shared_ptr<ParseBudget> budget = nullptr) {
    return boost::json::make_shared_resource<RequestArena>(std::move(budget));
  }
  explicit RequestArena(std::shared_ptr<ParseBudget> budget) : budget_(std::move(budget)) {}

 private:
  void* do_allocate(std::size_t n, std::size_t align) override {
    while (lock_.test_and_set(std::memory_order_acquire)) {
    }
    void* p = nullptr;
    try {
      if (budget_ && !budget_->lifted.load(std::memory_order_relaxed)) {
        if ((budget_->used += n) > budget_->limit) parse_over_budget(budget_->limit);
      }
      p = arena_.allocate(n, align);
    } catch (...) {
      lock_.clear(std::memory_order_release);
      throw;
    }
    lock_.clear(std::memory_order_release);
    return p;
  }
  void do_deallocate(void*, std::size_t, std::size_t) override {}  // freed with the arena
  bool do_is_equal(const memory_resource& other) const noexcept override { return this == &other; }

  boost::json::monotonic_resource arena_{16 * 1024};
  std::atomic_flag lock_ = ATOMIC_FLAG_INIT;
  std::shared_ptr<ParseBudget> budget_;
};

// The parser's own scratch (its stack of values not yet placed in their
// container) under a budget too: the elements of one huge array wait there.
class BudgetedScratch final : public boost::json::memory_resource {
 public:
  explicit BudgetedScratch(std::size_t budget) : budget_(budget) {}

 private:
  void* do_allocate(std::size_t n, std::size_t align) override {
    if (live_ + n > budget_) parse_over_budget(budget_);
    void* p = ::operator new(n, std::align_val_t(align));
    live_ += n;
    return p;
  }
  void do_deallocate(void* p, std::size_t n, std::size_t align) override {
    ::operator delete(p, std::align_val_t(align));
    live_ -= n;
  }
  bool do_is_equal(const memory_resource& other) const noexcept override { return this == &other; }

  std::size_t budget_;
  std::size_t live_ = 0;
};

}  // namespace posthog::server
