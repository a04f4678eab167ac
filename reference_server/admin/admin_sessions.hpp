// AdminSessions: how the console signs in. The admin token, typed once into
// the sign-in form, is exchanged for a session: a random id that the browser
// keeps in an HttpOnly, SameSite=Strict cookie (no script can read it, no
// other site can make the browser send it), and a CSRF token that the page
// keeps in memory and sends in the X-CSRF-Token header of every request that
// changes something. The token itself is never stored by the page, never in a
// URL, never in localStorage.
//
// Sessions are bounded in number (signing in past the bound ends the oldest)
// and in lifetime (no renewal: a session ends at its deadline however busy),
// kept in memory only (a restart signs everyone out), and looked up by
// comparing the cookie with every live id in constant time.
//
//   AdminSessions sessions(16, std::chrono::hours(8));
//   auto s = sessions.open();                  // Set-Cookie: s.id, answer s.csrf_token
//   if (auto found = sessions.find(cookie)) ...   // found->csrf_token for the header check
//   sessions.close(cookie);                    // sign out
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/epoch_ms.hpp"
#include "http/http_exchange.hpp"

namespace posthog::server {

struct AdminSession {
  std::string id;          // the cookie's value: 32 random bytes as hex
  std::string csrf_token;  // 32 more, for the X-CSRF-Token header
  std::int64_t expires_at_ms = 0;
};

class AdminSessions {
 public:
  using Clock = std::function<std::int64_t()>;  // milliseconds since the epoch
  static constexpr std::string_view cookie_name = "posthog_admin_session";

  AdminSessions(std::size_t max_sessions, std::chrono::seconds lifetime, Clock now = epoch_ms_now);

  // A new session. Throws std::runtime_error when the system has no randomness to give.
  AdminSession open();
  // The live session with this id, if any.
  std::optional<AdminSession> find(std::string_view id) const;
  // Ends it; false when there was none.
  bool close(std::string_view id);
  std::chrono::seconds lifetime() const noexcept { return lifetime_; }

 private:
  void forget_expired(std::int64_t now_ms);  // under mutex_

  std::size_t max_sessions_;
  std::chrono::seconds lifetime_;
  Clock now_;
  mutable std::mutex mutex_;
  std::vector<AdminSession> sessions_;  // the oldest first
};

// Equal, in a time that depends on the lengths only, not on where they differ.
bool same_secret(std::string_view a, std::string_view b) noexcept;
// The value of the session cookie in a request's Cookie header; empty if none.
std::string_view session_cookie(const HttpRequest& request) noexcept;
// The Set-Cookie value that gives the browser a session, and the one that takes it back.
std::string session_cookie_header(const AdminSession& session, std::chrono::seconds lifetime);
std::string expired_session_cookie_header();

}  // namespace posthog::server
