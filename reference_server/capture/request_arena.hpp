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
#pragma once

#include <atomic>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/storage_ptr.hpp>

namespace posthog::server {

class RequestArena final : public boost::json::memory_resource {
 public:
  static boost::json::storage_ptr make() { return boost::json::make_shared_resource<RequestArena>(); }

 private:
  void* do_allocate(std::size_t n, std::size_t align) override {
    while (lock_.test_and_set(std::memory_order_acquire)) {
    }
    void* p = nullptr;
    try {
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
};

}  // namespace posthog::server
