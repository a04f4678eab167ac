// The wall clock in milliseconds since the Unix epoch: the default clock of the
// export and job runners and the scheduler (tests inject their own).
#pragma once

#include <chrono>
#include <cstdint>

namespace posthog::server {

inline std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace posthog::server
