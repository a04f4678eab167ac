#include "redis_connection.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <sys/socket.h>
#include <sys/time.h>

namespace posthog::server {

namespace {

std::atomic<std::uint64_t> round_trip_count{0};

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::string;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::status;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::error;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::nil;
  }
  return out;
}

struct ArgvBuffers {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  explicit ArgvBuffers(const RedisArgs& args) {
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (auto const& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
  }
};

}  // namespace

const RedisReply& RedisReply::ok() const {
  if (type == Type::error) throw RedisCommandError(text);
  return *this;
}

std::int64_t redis_integer(std::string_view text) {
  if (text.empty()) return 0;
  std::int64_t value = 0;
  auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    throw std::invalid_argument("Redis holds '" + std::string(text.substr(0, 64)) + "' where an integer was expected");
  return value;
}

RedisConnection::RedisConnection(RedisEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {}

RedisConnection::~RedisConnection() { close(); }

void RedisConnection::close() noexcept {
  std::lock_guard lock(fd_mutex_);
  fd_ = -1;
  if (context_) redisFree(context_);
  context_ = nullptr;
}

void RedisConnection::broke(const std::string& what) {
  std::string const why = context_ && context_->errstr[0] ? std::string(context_->errstr) : std::string("no answer");
  close();
  backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(100), std::chrono::milliseconds(5'000));
  broke_at_ = std::chrono::steady_clock::now();
  next_attempt_ = broke_at_ + backoff_;
  throw RedisUnavailable("Redis at " + endpoint_.describe() + ": " + what + ": " + why);
}

void RedisConnection::ensure_connected() {
  if (context_) return;
  auto const now = std::chrono::steady_clock::now();
  if (now < next_attempt_)
    throw RedisUnavailable("Redis at " + endpoint_.describe() + " is unreachable; next attempt in " +
                           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now).count()) +
                           " ms");
  context_ = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, to_timeval(timeout_));
  if (!context_ || context_->err) broke("cannot connect");
  if (redisSetTimeout(context_, to_timeval(read_timeout_.count() > 0 ? read_timeout_ : timeout_)) != REDIS_OK)
    broke("cannot set the timeout");
  {
    std::lock_guard lock(fd_mutex_);
    fd_ = context_->fd;
  }
  redisEnableKeepAlive(context_);
  std::vector<RedisArgs> hello;
  std::string const db = std::to_string(endpoint_.db);
  if (!endpoint_.password.empty()) {
    if (endpoint_.username.empty()) hello.push_back({"AUTH", endpoint_.password});
    else hello.push_back({"AUTH", endpoint_.username, endpoint_.password});
  }
  if (endpoint_.db != 0) hello.push_back({"SELECT", db});
  if (!hello.empty()) {
    auto const replies = pipeline(hello);
    for (auto const& r : replies)
      if (r.is_error()) {
        close();
        // Not a network problem: retrying soon would not help either.
        backoff_ = std::chrono::milliseconds(5'000);
        next_attempt_ = std::chrono::steady_clock::now() + backoff_;
        throw RedisUnavailable("Redis at " + endpoint_.describe() + " refused the connection's set-up: " + r.text);
      }
  }
  backoff_ = std::chrono::milliseconds(0);
}

std::uint64_t RedisConnection::round_trips() noexcept { return round_trip_count.load(std::memory_order_relaxed); }

RedisReply RedisConnection::command(const RedisArgs& args) {
  ensure_connected();
  round_trip_count.fetch_add(1, std::memory_order_relaxed);
  ArgvBuffers b(args);
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context_, static_cast<int>(args.size()), b.argv.data(), b.lengths.data()));
  if (!reply) broke("command " + std::string(args.empty() ? "" : args.front()) + " failed");
  auto out = convert(reply);
  freeReplyObject(reply);
  return out;
}

std::optional<RedisReply> RedisConnection::read() {
  if (!context_) throw RedisUnavailable("Redis at " + endpoint_.describe() + ": not connected");
  void* raw = nullptr;
  if (redisGetReply(context_, &raw) != REDIS_OK || !raw) {
    bool const timed_out = context_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
    if (timed_out) {  // quiet, not broken: no backoff
      close();
      return std::nullopt;
    }
    broke("reading a pushed message failed");
  }
  auto out = convert(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return out;
}

void RedisConnection::interrupt() noexcept {
  std::lock_guard lock(fd_mutex_);
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

std::vector<RedisReply> RedisConnection::pipeline(const std::vector<RedisArgs>& commands) {
  ensure_connected();
  round_trip_count.fetch_add(1, std::memory_order_relaxed);
  for (auto const& args : commands) {
    ArgvBuffers b(args);
    if (redisAppendCommandArgv(context_, static_cast<int>(args.size()), b.argv.data(), b.lengths.data()) != REDIS_OK)
      broke("cannot queue a pipelined command");
  }
  std::vector<RedisReply> out;
  out.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || !raw) broke("pipeline reply " + std::to_string(i + 1) + " failed");
    out.push_back(convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  return out;
}

}  // namespace posthog::server
