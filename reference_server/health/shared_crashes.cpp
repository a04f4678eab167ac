#include "shared_crashes.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

#include "stores/redis/redis_pool.hpp"

namespace posthog::server {

void keep_worker_crash(RedisPool& pool, const std::string& prefix, const WorkerCrash& crash) {
  auto const key = prefix + "worker_crashes";
  auto const text = boost::json::serialize(crash.to_json());
  auto const keep = std::to_string(max_shared_crashes - 1);
  pool.with([&](RedisConnection& c) {
    for (auto const& reply : c.pipeline({{"LPUSH", key, text}, {"LTRIM", key, "0", keep}})) reply.ok();
  });
}

std::vector<WorkerCrash> load_worker_crashes(RedisPool& pool, const std::string& prefix) {
  auto const key = prefix + "worker_crashes";
  auto const reply = pool.with([&](RedisConnection& c) { return c.command({"LRANGE", key, "0", "-1"}); });
  reply.ok();
  std::vector<WorkerCrash> out;
  for (auto const& e : reply.elements) {
    boost::system::error_code ec;
    auto const v = boost::json::parse(e.text, ec);
    if (!ec && v.is_object()) out.push_back(WorkerCrash::from_json(v.get_object()));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace posthog::server
