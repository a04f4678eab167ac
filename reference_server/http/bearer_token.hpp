// bearer_matches: whether a request carries `Authorization: Bearer <token>`
// with exactly this token. The scheme is case-insensitive and may be followed
// by several spaces (RFC 9110 11.1); the token is compared in constant time
// over its length, so a wrong guess says nothing about how close it was.
#pragma once

#include <string_view>

#include "http_exchange.hpp"

namespace posthog::server {

inline bool bearer_matches(const HttpRequest& request, std::string_view token) noexcept {
  auto header = request.header("authorization");
  constexpr std::string_view scheme = "bearer";
  if (token.empty() || header.size() <= scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if ((header[i] | 0x20) != scheme[i]) return false;
  header.remove_prefix(scheme.size());
  if (header.front() != ' ') return false;
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  if (header.size() != token.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < token.size(); ++i) diff |= static_cast<unsigned char>(header[i] ^ token[i]);
  return diff == 0;
}

}  // namespace posthog::server
