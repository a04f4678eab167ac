// ReusableArena: a bump allocator over a fixed buffer, emptied and reused.
//
// Boost 1.81's monotonic_resource::release() frees the blocks it took beyond
// its buffer but keeps doubling the size of the next one: a resource released
// after every batch that overflowed asks for 1, 2, 4 ... MiB until it throws
// bad_alloc. So the arena is emptied by constructing a fresh resource over the
// same buffer, which costs a few stores.
#pragma once

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/storage_ptr.hpp>
#include <cstddef>
#include <memory>
#include <optional>

namespace posthog::server {

class ReusableArena {
 public:
  explicit ReusableArena(std::size_t bytes) : buffer_(new unsigned char[bytes]), bytes_(bytes) { reset(); }
  ReusableArena(const ReusableArena&) = delete;
  ReusableArena& operator=(const ReusableArena&) = delete;

  // Non-owning: everything allocated from it must be gone before reset().
  boost::json::storage_ptr storage() noexcept { return boost::json::storage_ptr(&*resource_); }
  void reset() noexcept { resource_.emplace(buffer_.get(), bytes_); }

 private:
  std::unique_ptr<unsigned char[]> buffer_;
  std::size_t bytes_;
  std::optional<boost::json::monotonic_resource> resource_;
};

}  // namespace posthog::server
