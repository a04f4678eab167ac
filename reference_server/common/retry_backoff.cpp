#include "retry_backoff.hpp"

#include <algorithm>
#include <cmath>

namespace posthog::server {

RetryBackoff::RetryBackoff(std::chrono::milliseconds base, double jitter)
    : base_(base),
      jitter_(jitter),
      state_(static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) | 1) {}

std::int64_t RetryBackoff::delay_ms(int n) {
  double const wait = static_cast<double>(base_.count()) * std::ldexp(1.0, std::clamp(n - 1, 0, 60));
  double unit;
  {
    // xorshift: a spread for the waits, not a secret.
    std::lock_guard lock(mutex_);
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    unit = static_cast<double>(state_ >> 11) / static_cast<double>(1ull << 53);  // [0, 1)
  }
  return static_cast<std::int64_t>(wait * (1.0 + jitter_ * (2.0 * unit - 1.0)));
}

}  // namespace posthog::server
