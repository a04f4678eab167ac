// CRC32C (Castagnoli), the checksum of every event log record: what tells a
// record written whole from one torn by a crash or damaged on disk.
//
//   std::uint32_t c = crc32c(bytes);           // one buffer
//   c = crc32c(more, crc32c(bytes));           // or continued over pieces
//
// The SSE 4.2 instruction when the CPU has it (tens of GB/s), a table
// otherwise; both give the same value (tests check the standard vectors).
#pragma once

#include <cstdint>
#include <string_view>

namespace posthog::server {

std::uint32_t crc32c(std::string_view bytes, std::uint32_t previous = 0) noexcept;

}  // namespace posthog::server
