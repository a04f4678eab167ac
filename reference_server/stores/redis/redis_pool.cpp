#include "redis_pool.hpp"

namespace posthog::server {

RedisPool::RedisPool(const RedisEndpoint& endpoint, std::size_t size, std::chrono::milliseconds timeout)
    : endpoint_(endpoint) {
  for (std::size_t i = 0; i < std::max<std::size_t>(size, 1); ++i) {
    connections_.push_back(std::make_unique<RedisConnection>(endpoint, timeout));
    idle_.push_back(connections_.back().get());
  }
}

RedisConnection* RedisPool::borrow() {
  std::unique_lock lock(mutex_);
  returned_.wait(lock, [this] { return !idle_.empty(); });
  auto* c = idle_.back();
  idle_.pop_back();
  // Another connection got through since this one broke: Redis is back, so
  // this one tries at once instead of waiting out its backoff (which would
  // answer 503 for seconds after Redis returned).
  if (!c->connected() && c->broke_at() < last_good_) c->retry_now();
  return c;
}

void RedisPool::give_back(RedisConnection* c) {
  {
    std::lock_guard lock(mutex_);
    if (c->connected()) last_good_ = std::chrono::steady_clock::now();
    idle_.push_back(c);
  }
  returned_.notify_one();
}

bool RedisPool::reachable() {
  try {
    return with([](RedisConnection& c) { return c.command({"PING"}).text == "PONG"; });
  } catch (const RedisUnavailable&) {
    return false;
  }
}

}  // namespace posthog::server
