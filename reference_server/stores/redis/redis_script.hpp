// RedisScript: a Lua script run by Redis as one atomic step.
//
// The stream's all-or-nothing append, the partition leases and the schedule
// lock each need a read and a write that no other client can come between;
// a script is how Redis does that without a round trip per step. The script is
// sent once (SCRIPT LOAD) and then called by its SHA-1 (EVALSHA); a Redis that
// restarted or was flushed answers NOSCRIPT, and the script is sent again.
//
//   static RedisScript const bump("return redis.call('INCRBY', KEYS[1], ARGV[1])");
//   auto n = bump.run(connection, {"counter"}, {"5"}).ok().integer;
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "redis_connection.hpp"

namespace posthog::server {

class RedisScript {
 public:
  explicit RedisScript(std::string source) : source_(std::move(source)) {}

  // The script's reply (an error reply is returned, see RedisReply::ok).
  // Throws RedisUnavailable.
  RedisReply run(RedisConnection& connection, const std::vector<std::string>& keys,
                 const std::vector<std::string>& args) const;

 private:
  std::string sha(RedisConnection& connection) const;

  std::string source_;
  mutable std::mutex mutex_;
  mutable std::string sha_;  // under mutex_; empty until loaded
};

// Deletes KEYS[1] only while its value is still ARGV[1]: how a holder releases
// a lock or lease without deleting one that expired and went to someone else.
// Returns 1 when it deleted, 0 otherwise.
extern RedisScript const release_if_held_script;

}  // namespace posthog::server
