// The wall clock in milliseconds since the Unix epoch: the default clock of the
// export and job runners and the scheduler (tests inject their own), and a
// cheaper coarse reading for what only needs the hour.
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>

namespace posthog::server {

inline std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The same at the kernel tick's resolution (a few ms), for a fraction of the
// cost: what per-call bookkeeping that only needs the hour reads.
inline std::int64_t coarse_epoch_ms() noexcept {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1000 + t.tv_nsec / 1'000'000;
}

}  // namespace posthog::server
