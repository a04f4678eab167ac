#include "process_memory.hpp"

#include <malloc.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>

namespace posthog::server {
namespace {

long status_field_kib(const char* field) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  long kib = 0;
  std::size_t const n = std::strlen(field);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      std::sscanf(line + n + 1, "%ld", &kib);
      break;
    }
  std::fclose(f);
  return kib;
}

}  // namespace

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto const seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

long resident_kib() { return status_field_kib("VmRSS"); }
long peak_resident_kib() { return status_field_kib("VmHWM"); }

void return_free_memory() noexcept { ::malloc_trim(0); }

}  // namespace posthog::server
