// Addresses worth a GeoIP lookup: a textual IPv4 or IPv6 address that is public.
//
// Private, loopback, link-local, shared (CGNAT), documentation-free reserved,
// multicast and unspecified ranges are refused before any lookup: no database
// has a location for them. (PostHog's plugin swapped 127.0.0.1 for an
// Australian address for local development; we leave local addresses alone.)
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string_view>

namespace posthog::plugins::geoip {

struct IpAddress {
  sockaddr_storage storage{};
  const sockaddr* address() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
  bool is_v6() const noexcept { return storage.ss_family == AF_INET6; }
};

// nullopt when the text is not an address (then *malformed is set, if given) or
// the address is not public. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
// treated as the IPv4 address.
std::optional<IpAddress> parse_public_ip(std::string_view text, bool* malformed = nullptr) noexcept;

}  // namespace posthog::plugins::geoip
