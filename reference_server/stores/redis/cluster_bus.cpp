#include "cluster_bus.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <random>
#include <unistd.h>

namespace posthog::server {

namespace {

std::string make_server_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::random_device random;
  return std::string(host) + "/" + std::to_string(::getpid()) + "/" + std::to_string(random());
}

}  // namespace

ClusterBus::ClusterBus(RedisPool& pool, const RedisEndpoint& endpoint, const std::string& prefix,
                       ErrorReport on_error, std::chrono::milliseconds resync_every)
    : pool_(pool),
      subscriber_(endpoint, std::chrono::milliseconds(2'000)),
      channel_(prefix + "cluster"),
      id_(make_server_id()),
      on_error_(std::move(on_error)) {
  subscriber_.set_read_timeout(resync_every);
}

ClusterBus::~ClusterBus() { stop(); }

void ClusterBus::start(Handler handle, std::function<void()> on_listening) {
  handle_ = std::move(handle);
  on_listening_ = std::move(on_listening);
  thread_ = std::thread([this] { listen(); });
}

void ClusterBus::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (!thread_.joinable()) return;
  // The listener may be between its last look at stopping_ and a blocking read,
  // or still connecting: interrupt until it has left.
  while (!finished_.load()) {
    subscriber_.interrupt();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  thread_.join();
}

void ClusterBus::publish(boost::json::object message) {
  message["origin"] = id_;
  auto const text = boost::json::serialize(message);
  pool_.with([&](RedisConnection& c) { return c.command({"PUBLISH", channel_, text}).ok(); });
}

void ClusterBus::deliver(const boost::json::object& message) {
  try {
    handle_(message);
  } catch (const std::exception& e) {  // reported; the bus goes on with the next message
    on_error_(std::string("cluster bus: handling ") + boost::json::serialize(message) + " failed: " + e.what());
  }
}

void ClusterBus::listen() {
  struct Finished {
    std::atomic<bool>& flag;
    ~Finished() { flag = true; }
  } finished{finished_};
  auto stopping = [this] {
    std::lock_guard lock(mutex_);
    return stopping_;
  };
  bool reported_down = false;
  while (!stopping()) {
    try {
      subscriber_.command({"SUBSCRIBE", channel_}).ok();
      reported_down = false;
      deliver({{"type", "resync"}});
      if (on_listening_) on_listening_();
      while (!stopping()) {
        auto const next = subscriber_.read();
        if (!next) break;  // quiet for resync_every: subscribe again, which resyncs
        auto const& reply = *next;
        if (reply.type != RedisReply::Type::array || reply.elements.size() != 3 || reply.elements[0].text != "message")
          continue;
        boost::system::error_code ec;
        auto message = boost::json::parse(reply.elements[2].text, ec);
        if (ec || !message.is_object()) {
          on_error_("cluster bus: a message that is not a JSON object was ignored: " + reply.elements[2].text.substr(0, 200));
          continue;
        }
        auto const* origin = message.as_object().if_contains("origin");
        if (origin && origin->is_string() && origin->get_string() == id_) continue;
        deliver(message.as_object());
      }
    } catch (const RedisUnavailable& e) {
      if (stopping()) break;
      if (!reported_down) on_error_(std::string("cluster bus: not listening until Redis is back: ") + e.what());
      reported_down = true;
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stopping_; });
    } catch (const std::exception& e) {  // Redis refused SUBSCRIBE: say so, try again shortly
      on_error_(std::string("cluster bus: ") + e.what());
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(1'000), [this] { return stopping_; });
    }
  }
}

}  // namespace posthog::server
