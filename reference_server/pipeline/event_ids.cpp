#include "event_ids.hpp"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>

namespace posthog::server {

std::string make_uuid_v7(std::chrono::system_clock::time_point now) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto const ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  std::uint64_t const r1 = rng(), r2 = rng();
  unsigned char b[16];
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (40 - 8 * i));
  b[6] = static_cast<unsigned char>(0x70 | ((r1 >> 8) & 0x0f));  // version 7
  b[7] = static_cast<unsigned char>(r1);
  b[8] = static_cast<unsigned char>(0x80 | ((r1 >> 16) & 0x3f));  // variant 10
  for (int i = 9; i < 16; ++i) b[i] = static_cast<unsigned char>(r2 >> (8 * (i - 9)));
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

std::string iso8601(std::chrono::system_clock::time_point t) {
  auto const ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return out;
}

}  // namespace posthog::server
