#include "event_ids.hpp"

#include <cstdint>
#include <random>

namespace posthog::server {
namespace {

void two_digits(char* out, unsigned v) noexcept {
  out[0] = static_cast<char>('0' + v / 10);
  out[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

IsoTimestamp iso8601_text(std::chrono::system_clock::time_point t) noexcept {
  return iso8601_text(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

IsoTimestamp iso8601_text(std::int64_t ms) noexcept {
  std::int64_t days = ms / 86400000, in_day = ms % 86400000;
  if (in_day < 0) in_day += 86400000, --days;
  // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
  std::int64_t const z = days + 719468;
  std::int64_t const era = (z >= 0 ? z : z - 146096) / 146097;
  auto const doe = static_cast<unsigned>(z - era * 146097);
  unsigned const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned const mp = (5 * doy + 2) / 153;
  unsigned const day = doy - (153 * mp + 2) / 5 + 1;
  unsigned const month = mp < 10 ? mp + 3 : mp - 9;
  auto const year = static_cast<unsigned>(static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2));

  IsoTimestamp out;
  char* p = out.text;
  two_digits(p, (year / 100) % 100);
  two_digits(p + 2, year % 100);
  p[4] = '-';
  two_digits(p + 5, month);
  p[7] = '-';
  two_digits(p + 8, day);
  p[10] = 'T';
  auto const secs = static_cast<unsigned>(in_day / 1000);
  two_digits(p + 11, secs / 3600);
  p[13] = ':';
  two_digits(p + 14, secs / 60 % 60);
  p[16] = ':';
  two_digits(p + 17, secs % 60);
  p[19] = '.';
  auto const millis = static_cast<unsigned>(in_day % 1000);
  p[20] = static_cast<char>('0' + millis / 100);
  two_digits(p + 21, millis % 100);
  p[23] = 'Z';
  return out;
}

UuidText uuid_v7_text(std::chrono::system_clock::time_point now) {
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
  static constexpr char hex[] = "0123456789abcdef";
  UuidText out;
  char* p = out.text;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = hex[b[i] >> 4];
    *p++ = hex[b[i] & 0x0f];
  }
  return out;
}

std::string make_uuid_v7(std::chrono::system_clock::time_point now) { return std::string(uuid_v7_text(now).view()); }

std::string iso8601(std::chrono::system_clock::time_point t) { return std::string(iso8601_text(t).view()); }

}  // namespace posthog::server
