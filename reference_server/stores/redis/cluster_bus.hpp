// ClusterBus: what one server changes, every server hears, over Redis pub/sub
// (PostHog's plugin server used a `reload-plugins` channel the same way).
//
// Messages are small JSON objects on <prefix>cluster: {"type": "team", "id": 7}
// after a team was set or deleted through the admin API (the team itself is in
// the TeamRegistry), {"type": "plugin", "name": ..., "hash": ...} after a hot
// swap. Each carries its sender's id, and a server ignores its own. Pub/sub
// delivers only to who is listening: after every (re)subscription the handler
// gets {"type": "resync"}, on which a server compares everything with the
// registry, so a message missed while Redis was away is not a change missed.
// A quiet channel is subscribed to again every `resync_every` (60 s), which
// resyncs too: an announcement that failed after its change was stored (a
// PUBLISH timeout) is picked up within that time. After each subscription
// `on_listening` runs (a diagnostic line: tests wait for it).
//
//   ClusterBus bus(pool, endpoint, "posthog-plugin-server:", on_error);
//   bus.start([&](const boost::json::object& message) { ... });
//   bus.publish({{"type", "team"}, {"id", 7}});
#pragma once

#include <boost/json/object.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "redis_pool.hpp"

namespace posthog::server {

class ClusterBus {
 public:
  using Handler = std::function<void(const boost::json::object& message)>;
  using ErrorReport = std::function<void(const std::string& what)>;

  ClusterBus(RedisPool& pool, const RedisEndpoint& endpoint, const std::string& prefix, ErrorReport on_error,
             std::chrono::milliseconds resync_every = std::chrono::seconds(60));
  ~ClusterBus();
  ClusterBus(const ClusterBus&) = delete;
  ClusterBus& operator=(const ClusterBus&) = delete;

  // Listens on a thread of its own; `handle` runs there, one message at a time.
  void start(Handler handle, std::function<void()> on_listening = {});
  void stop();
  // Throws RedisUnavailable: the change is made here and kept in the registry,
  // and the others will see it at their next resync.
  void publish(boost::json::object message);
  const std::string& server_id() const noexcept { return id_; }

 private:
  void listen();
  void deliver(const boost::json::object& message);

  RedisPool& pool_;
  RedisConnection subscriber_;
  std::string channel_;
  std::string id_;
  ErrorReport on_error_;
  Handler handle_;
  std::function<void()> on_listening_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

}  // namespace posthog::server
