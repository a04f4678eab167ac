// RedisEndpoint: where the Redis backend connects, parsed from a URL as
// REDIS_URL gives it (PostHog's plugin server took the same variable):
//
//   redis://127.0.0.1:6379            redis://:secret@10.0.0.5:6380/2
//   redis://user:secret@host          (ACL user; Redis 6 and later)
//
// A URL that cannot be used is refused with the part at fault named; the
// password never appears in describe() or in an error.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace posthog::server {

class RedisUrlError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string username;  // empty: the default user
  std::string password;  // empty: no AUTH
  int db = 0;

  // Throws RedisUrlError.
  static RedisEndpoint parse(std::string_view url);
  // redis://host:port/db, without credentials: for logs and errors.
  std::string describe() const;
};

}  // namespace posthog::server
