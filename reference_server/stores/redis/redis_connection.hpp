// RedisConnection: one hiredis connection with timeouts, pipelining and
// reconnection; RedisReply: a reply as a plain value. The only files that
// include hiredis are this one's .cpp.
//
// A connection that breaks (I/O error, timeout) is dropped; the next command
// connects again, at most once per backoff step (100 ms doubling to 5 s), so a
// Redis that is down costs each caller one quick RedisUnavailable, not a
// connect timeout per call. A command is never retried by this layer: INCRBY or
// LPUSH may have been applied before the connection broke.
//
//   RedisConnection redis(RedisEndpoint::parse("redis://127.0.0.1:6379"), std::chrono::milliseconds(500));
//   auto n = redis.command({"INCRBY", "counter", "1"}).integer;
//   auto replies = redis.pipeline({{"GET", "a"}, {"GET", "b"}});   // one round trip
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/redis_endpoint.hpp"
#include "stores/store_failure.hpp"

struct redisContext;

namespace posthog::server {

// Redis cannot be reached (or stopped answering): the message names the endpoint.
class RedisUnavailable : public StoreFailure {
 public:
  using StoreFailure::StoreFailure;
};

// Redis answered with an error (WRONGTYPE, a script error, ...).
class RedisCommandError : public StoreFailure {
 public:
  using StoreFailure::StoreFailure;
  bool wrong_type() const noexcept { return std::string_view(what()).substr(0, 9) == "WRONGTYPE"; }
};

struct RedisReply {
  enum class Type { nil, integer, string, status, error, array };
  Type type = Type::nil;
  std::int64_t integer = 0;
  std::string text;  // string, status, error
  std::vector<RedisReply> elements;

  bool is_nil() const noexcept { return type == Type::nil; }
  bool is_error() const noexcept { return type == Type::error; }
  // Throws RedisCommandError when this is an error reply.
  const RedisReply& ok() const;
};

// A number Redis keeps as text (a hash field, an id from a script); empty reads
// as 0. Throws std::invalid_argument, quoting the text, on anything else.
std::int64_t redis_integer(std::string_view text);

using RedisArgs = std::vector<std::string_view>;

class RedisConnection {
 public:
  // Does not connect yet: the first command does.
  RedisConnection(RedisEndpoint endpoint, std::chrono::milliseconds timeout);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // An error reply is returned, not thrown (see RedisReply::ok). Throws RedisUnavailable.
  RedisReply command(const RedisArgs& args);
  RedisReply command(std::initializer_list<std::string_view> args) { return command(RedisArgs(args)); }
  // All commands in one write, then all replies: one round trip. Throws RedisUnavailable.
  std::vector<RedisReply> pipeline(const std::vector<RedisArgs>& commands);

  // For a subscriber: how long read() waits (the connect timeout stays as it was)...
  void set_read_timeout(std::chrono::milliseconds timeout) noexcept { read_timeout_ = timeout; }
  // ...for the next reply pushed by the server (a pub/sub message). nullopt:
  // nothing came in time; the connection is closed (subscribe again). Throws RedisUnavailable.
  std::optional<RedisReply> read();
  // From another thread: makes a read() in progress fail at once (shuts the socket down).
  void interrupt() noexcept;
  const RedisEndpoint& endpoint() const noexcept { return endpoint_; }
  bool connected() const noexcept { return context_ != nullptr; }
  // When it last broke (the epoch: never).
  std::chrono::steady_clock::time_point broke_at() const noexcept { return broke_at_; }
  // The next command connects at once, whatever the backoff (another
  // connection to the same Redis got through since: it is back).
  void retry_now() noexcept { next_attempt_ = {}; }
  // Round trips made by every connection of this process (for /metrics and the
  // benchmark's Redis round trips per event): a command or a whole pipeline is one.
  static std::uint64_t round_trips() noexcept;

 private:
  void ensure_connected();
  void close() noexcept;
  [[noreturn]] void broke(const std::string& what);

  RedisEndpoint endpoint_;
  std::chrono::milliseconds timeout_;
  redisContext* context_ = nullptr;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::steady_clock::time_point broke_at_{};
  std::chrono::milliseconds backoff_{0};
  std::chrono::milliseconds read_timeout_{0};  // 0: the command timeout
  std::mutex fd_mutex_;  // interrupt() against closing: never shut down a descriptor reused by then
  int fd_ = -1;          // of the live connection, under fd_mutex_
};

}  // namespace posthog::server
