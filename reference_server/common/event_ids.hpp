// Identifiers and timestamps the server stamps on events it creates or
// normalises: UUIDv7 (time-ordered, as PostHog's capture generates) and ISO 8601
// UTC timestamps with milliseconds, as PostHog writes them.
//
// Capture stamps several of these on every event, so the formatting is done by
// hand into fixed buffers: no printf, no gmtime, no allocation.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace posthog::server {

// "2026-11-23T22:11:37.699Z"
struct IsoTimestamp {
  char text[24];
  std::string_view view() const noexcept { return {text, sizeof text}; }
};
// "01a20a76-f463-7f53-9a08-29d8a0600e78"
struct UuidText {
  char text[36];
  std::string_view view() const noexcept { return {text, sizeof text}; }
};

// Milliseconds since the epoch. Years 0 to 9999 only (see in_iso8601_range).
IsoTimestamp iso8601_text(std::int64_t epoch_ms) noexcept;
IsoTimestamp iso8601_text(std::chrono::system_clock::time_point t) noexcept;
// 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z: what four year digits can say.
constexpr bool in_iso8601_range(std::int64_t epoch_ms) noexcept {
  return epoch_ms >= -62167219200000LL && epoch_ms <= 253402300799999LL;
}
UuidText uuid_v7_text(std::chrono::system_clock::time_point now);

std::string make_uuid_v7(std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
std::string iso8601(std::chrono::system_clock::time_point t);

}  // namespace posthog::server
