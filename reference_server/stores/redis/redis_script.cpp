#include "redis_script.hpp"

namespace posthog::server {

RedisScript const release_if_held_script(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua");

std::string RedisScript::sha(RedisConnection& connection) const {
  {
    std::lock_guard lock(mutex_);
    if (!sha_.empty()) return sha_;
  }
  auto const loaded = connection.command({"SCRIPT", "LOAD", source_});
  loaded.ok();
  std::lock_guard lock(mutex_);
  sha_ = loaded.text;
  return sha_;
}

RedisReply RedisScript::run(RedisConnection& connection, const std::vector<std::string>& keys,
                            const std::vector<std::string>& args) const {
  auto call = [&](const std::string& sha) {
    std::string const key_count = std::to_string(keys.size());
    RedisArgs argv{"EVALSHA", sha, key_count};
    argv.reserve(3 + keys.size() + args.size());
    for (auto const& k : keys) argv.emplace_back(k);
    for (auto const& a : args) argv.emplace_back(a);
    return connection.command(argv);
  };
  auto reply = call(sha(connection));
  if (reply.is_error() && reply.text.rfind("NOSCRIPT", 0) == 0) {
    // Redis forgot it (a restart, SCRIPT FLUSH): load it again, once.
    {
      std::lock_guard lock(mutex_);
      sha_.clear();
    }
    reply = call(sha(connection));
  }
  return reply;
}

}  // namespace posthog::server
