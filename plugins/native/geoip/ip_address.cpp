#include "ip_address.hpp"

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

namespace posthog::plugins::geoip {
namespace {

bool in_v4(std::uint32_t a, std::uint32_t net, int bits) noexcept {
  std::uint32_t const mask = bits == 0 ? 0 : ~std::uint32_t(0) << (32 - bits);
  return (a & mask) == net;
}

bool public_v4(std::uint32_t a) noexcept {
  struct Range {
    std::uint32_t net;
    int bits;
  };
  static constexpr Range reserved[] = {
      {0x00000000, 8},   // "this" network
      {0x0a000000, 8},   // private
      {0x64400000, 10},  // shared address space (CGNAT)
      {0x7f000000, 8},   // loopback
      {0xa9fe0000, 16},  // link-local
      {0xac100000, 12},  // private
      {0xc0000000, 24},  // IETF protocol assignments
      {0xc0a80000, 16},  // private
      {0xc6120000, 15},  // benchmarking
      {0xe0000000, 4},   // multicast
      {0xf0000000, 4},   // reserved and broadcast
  };
  for (auto const& r : reserved)
    if (in_v4(a, r.net, r.bits)) return false;
  return true;
}

bool public_v6(const in6_addr& a) noexcept {
  auto const* b = a.s6_addr;
  static constexpr std::uint8_t zero[16] = {};
  if (std::memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1)) return false;  // :: and ::1
  if ((b[0] & 0xfe) == 0xfc) return false;                                         // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;                         // fe80::/10 link-local
  if (b[0] == 0xff) return false;                                                  // multicast
  return true;
}

}  // namespace

std::optional<IpAddress> parse_public_ip(std::string_view text, bool* malformed) noexcept {
  if (malformed) *malformed = false;
  char buf[INET6_ADDRSTRLEN + 1];
  auto bad = [&]() -> std::optional<IpAddress> {
    if (malformed) *malformed = true;
    return std::nullopt;
  };
  if (text.empty() || text.size() >= sizeof buf) return bad();
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';

  IpAddress ip;
  in_addr v4{};
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    if (!public_v4(ntohl(v4.s_addr))) return std::nullopt;
    auto* sin = reinterpret_cast<sockaddr_in*>(&ip.storage);
    sin->sin_family = AF_INET;
    sin->sin_addr = v4;
    return ip;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buf, &v6) != 1) return bad();
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    std::memcpy(&v4.s_addr, v6.s6_addr + 12, 4);
    if (!public_v4(ntohl(v4.s_addr))) return std::nullopt;
    auto* sin = reinterpret_cast<sockaddr_in*>(&ip.storage);
    sin->sin_family = AF_INET;
    sin->sin_addr = v4;
    return ip;
  }
  if (!public_v6(v6)) return std::nullopt;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ip.storage);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_addr = v6;
  return ip;
}

}  // namespace posthog::plugins::geoip
