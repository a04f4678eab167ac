#include "process_memory.hpp"

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

long resident_kib() { return status_field_kib("VmRSS"); }
long peak_resident_kib() { return status_field_kib("VmHWM"); }

}  // namespace posthog::server
