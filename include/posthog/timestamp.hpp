// posthog/timestamp.hpp: event timestamps (ISO 8601) as milliseconds since the
// epoch, to order or compare events.
//
// Accepts what PostHog clients send and JavaScript's Date parses: a date, an
// optional time ('T' or a space) with optional fractional seconds, and an
// optional zone (Z, +hh:mm, +hhmm). A time without a zone is read as UTC
// (JavaScript would read it as the machine's local time). nullopt when the text
// is not such a timestamp.
//
//   auto t = posthog::iso8601_millis(event.timestamp());
//   if (t && *t < cutoff_ms) return false;   // drop events older than the cutoff
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace posthog {

inline std::optional<std::int64_t> iso8601_millis(std::string_view s) noexcept {
  std::size_t i = 0;
  auto digits = [&](int n, int& out) {
    out = 0;
    for (int k = 0; k < n; ++k, ++i) {
      if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  auto take = [&](char c) {
    if (i < s.size() && s[i] == c) return ++i, true;
    return false;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
  if (!digits(4, year) || !take('-') || !digits(2, month) || !take('-') || !digits(2, day)) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31) return std::nullopt;
  std::int64_t offset_minutes = 0;
  if (i < s.size() && (s[i] == 'T' || s[i] == ' ')) {
    ++i;
    if (!digits(2, hour) || !take(':') || !digits(2, minute)) return std::nullopt;
    if (take(':')) {
      if (!digits(2, second)) return std::nullopt;
      if (take('.')) {
        int scale = 100;
        if (i >= s.size() || s[i] < '0' || s[i] > '9') return std::nullopt;
        for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, scale /= 10) millis += (s[i] - '0') * scale;
      }
    }
    if (hour > 24 || minute > 59 || second > 60) return std::nullopt;
    if (take('Z')) {
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      int const sign = s[i++] == '-' ? -1 : 1;
      int oh = 0, om = 0;
      if (!digits(2, oh)) return std::nullopt;
      take(':');
      if (!digits(2, om)) return std::nullopt;
      offset_minutes = sign * (oh * 60 + om);
    }
  }
  if (i != s.size()) return std::nullopt;
  // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
  int const y = year - (month <= 2);
  int const era = (y >= 0 ? y : y - 399) / 400;
  int const yoe = y - era * 400;
  int const doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  int const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  std::int64_t const days = static_cast<std::int64_t>(era) * 146097 + doe - 719468;
  std::int64_t const seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * 1000 + millis;
}

}  // namespace posthog
