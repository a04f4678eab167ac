#include "descriptor_limit.hpp"

#include <sys/resource.h>

#include <algorithm>

namespace posthog::server {

std::size_t raise_descriptor_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;  // the usual default, when it cannot be read
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? static_cast<std::size_t>(1) << 20 : static_cast<std::size_t>(limit.rlim_cur);
}

std::size_t connection_cap(std::size_t wanted, std::size_t descriptor_limit, std::size_t reserve) noexcept {
  std::size_t const available = descriptor_limit > reserve ? descriptor_limit - reserve : 1;
  return std::max<std::size_t>(1, std::min(wanted, available));
}

}  // namespace posthog::server
