// RedisPool: a few RedisConnections shared by the threads that call the Redis
// backends. A caller borrows one for the length of a call (a command or a
// pipeline) and gives it back; with all of them borrowed it waits. hiredis
// connections are not thread-safe, and a pool of a few is what lets worker
// threads and job threads use Redis at once without a connection each.
//
//   RedisPool pool(endpoint, 4, std::chrono::milliseconds(500));
//   auto value = pool.with([](RedisConnection& c) { return c.command({"GET", "k"}); });
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "redis_connection.hpp"

namespace posthog::server {

class RedisPool {
 public:
  RedisPool(const RedisEndpoint& endpoint, std::size_t size, std::chrono::milliseconds timeout);

  template <class F>
  auto with(F&& use) {
    auto lease = borrow();
    struct Return {
      RedisPool& pool;
      RedisConnection* c;
      ~Return() { pool.give_back(c); }
    } back{*this, lease};
    return use(*lease);
  }

  // PING through the pool: true when Redis answered.
  bool reachable();
  const RedisEndpoint& endpoint() const noexcept { return endpoint_; }

 private:
  RedisConnection* borrow();
  void give_back(RedisConnection* c);

  RedisEndpoint endpoint_;
  std::vector<std::unique_ptr<RedisConnection>> connections_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<RedisConnection*> idle_;
  std::chrono::steady_clock::time_point last_good_{};  // a connection was given back working (under mutex_)
};

}  // namespace posthog::server
