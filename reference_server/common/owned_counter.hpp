// OwnedCounter: a count that one thread adds to and any thread may read, such
// as a worker's events in and out, read by /metrics while the worker runs.
//
//   OwnedCounter in;             // a member of the worker's state
//   ++in;  in.add(3);            // on the worker's thread only
//   std::uint64_t n = in.get();  // on any thread: a value it had
//
// A relaxed load and store rather than fetch_add: the owner is the only
// writer, so no increment can be lost, and the hot path pays no locked
// instruction; a plain integer would be a data race for the reader.
#pragma once

#include <atomic>
#include <cstdint>

namespace posthog::server {

class OwnedCounter {
 public:
  OwnedCounter() noexcept = default;
  OwnedCounter(const OwnedCounter&) = delete;
  OwnedCounter& operator=(const OwnedCounter&) = delete;

  void add(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  OwnedCounter& operator++() noexcept {
    add();
    return *this;
  }
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }
  operator std::uint64_t() const noexcept { return get(); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

}  // namespace posthog::server
