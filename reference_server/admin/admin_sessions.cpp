#include "admin_sessions.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace posthog::server {
namespace {

// 32 bytes from the kernel's generator, as 64 hex digits.
std::string random_hex() {
  unsigned char bytes[32];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    auto const n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("no random bytes for an admin session: ") + std::strerror(errno));
    }
    got += static_cast<std::size_t>(n);
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof bytes);
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

}  // namespace

bool same_secret(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

AdminSessions::AdminSessions(std::size_t max_sessions, std::chrono::seconds lifetime, Clock now)
    : max_sessions_(std::max<std::size_t>(1, max_sessions)), lifetime_(lifetime), now_(std::move(now)) {}

void AdminSessions::forget_expired(std::int64_t now_ms) {
  std::erase_if(sessions_, [&](const AdminSession& s) { return s.expires_at_ms <= now_ms; });
}

AdminSession AdminSessions::open() {
  AdminSession s{random_hex(), random_hex(),
                 now_() + std::chrono::duration_cast<std::chrono::milliseconds>(lifetime_).count()};
  std::lock_guard lock(mutex_);
  forget_expired(now_());
  if (sessions_.size() >= max_sessions_) sessions_.erase(sessions_.begin());  // the oldest goes
  sessions_.push_back(s);
  return s;
}

std::optional<AdminSession> AdminSessions::find(std::string_view id) const {
  auto const now = now_();
  std::lock_guard lock(mutex_);
  std::optional<AdminSession> found;
  // Every live session is compared, whichever matches: the time taken says
  // how many sessions there are, never how much of an id was right.
  for (auto const& s : sessions_)
    if (same_secret(s.id, id) && s.expires_at_ms > now) found = s;
  return found;
}

bool AdminSessions::close(std::string_view id) {
  std::lock_guard lock(mutex_);
  auto const before = sessions_.size();
  std::erase_if(sessions_, [&](const AdminSession& s) { return same_secret(s.id, id); });
  return sessions_.size() != before;
}

std::string_view session_cookie(const HttpRequest& request) noexcept {
  // Cookie: a=1; posthog_admin_session=...; b=2 (RFC 6265 5.4: "; " between pairs).
  std::string_view header = request.header("cookie");
  while (!header.empty()) {
    auto const end = header.find(';');
    auto pair = header.substr(0, end);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    auto const eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == AdminSessions::cookie_name) return pair.substr(eq + 1);
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

std::string session_cookie_header(const AdminSession& session, std::chrono::seconds lifetime) {
  // No Secure attribute: the admin port speaks plain HTTP (on loopback by
  // default); behind a TLS proxy the proxy may add it.
  return std::string(AdminSessions::cookie_name) + "=" + session.id +
         "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(lifetime.count());
}

std::string expired_session_cookie_header() {
  return std::string(AdminSessions::cookie_name) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";
}

}  // namespace posthog::server
