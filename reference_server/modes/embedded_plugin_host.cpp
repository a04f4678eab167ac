#include "embedded_plugin_host.hpp"

#include <algorithm>
#include <thread>

namespace posthog::server {

unsigned worker_count(unsigned requested) {
  return requested ? requested : std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace posthog::server
