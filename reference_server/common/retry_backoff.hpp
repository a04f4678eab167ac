// RetryBackoff: how long to wait before retry n of a failed export batch or
// job: base·2^(n-1), stretched or shrunk by up to ±jitter so that work which
// failed together (an endpoint down for everyone) does not come back together.
// PostHog's plugin server waited 3·2^(n+1) s, i.e. 6 s, 12 s, 24 s, ...
//
//   RetryBackoff backoff(std::chrono::seconds(6), 0.1);
//   auto wait = backoff.delay_ms(1);   // 5.4 .. 6.6 s
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace posthog::server {

class RetryBackoff {
 public:
  RetryBackoff(std::chrono::milliseconds base, double jitter);
  // n: 1 for the first retry. Thread-safe.
  std::int64_t delay_ms(int n);

 private:
  std::chrono::milliseconds base_;
  double jitter_;
  std::mutex mutex_;
  std::uint64_t state_;
};

}  // namespace posthog::server
