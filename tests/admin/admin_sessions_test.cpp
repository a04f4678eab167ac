// The console's sessions: found by their id only while they live, bounded in
// number, ended on sign-out; the cookie read from a Cookie header among others.
#include <catch2/catch.hpp>

#include <set>

#include "admin/admin_sessions.hpp"

namespace admin_sessions_test {

using posthog::server::AdminSessions;
using posthog::server::HttpRequest;

TEST_CASE("a session is found by its id until its lifetime ends", "[admin][sessions]") {
  std::int64_t now = 1'000'000;
  AdminSessions sessions(4, std::chrono::seconds(60), [&] { return now; });
  auto const s = sessions.open();
  CHECK(s.id.size() == 64);
  CHECK(s.csrf_token.size() == 64);
  CHECK(s.id != s.csrf_token);
  CHECK(s.expires_at_ms == now + 60'000);
  REQUIRE(sessions.find(s.id));
  CHECK(sessions.find(s.id)->csrf_token == s.csrf_token);
  CHECK_FALSE(sessions.find(s.csrf_token));
  CHECK_FALSE(sessions.find(s.id.substr(0, 63)));
  CHECK_FALSE(sessions.find(""));
  now += 59'999;
  CHECK(sessions.find(s.id));
  now += 1;
  CHECK_FALSE(sessions.find(s.id));  // no renewal: the deadline is the deadline
}

TEST_CASE("sessions are bounded: one past the bound ends the oldest", "[admin][sessions]") {
  AdminSessions sessions(3, std::chrono::hours(1));
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(sessions.open().id);
  CHECK_FALSE(sessions.find(ids[0]));
  for (int i = 1; i < 4; ++i) CHECK(sessions.find(ids[i]));
  CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == 4);  // random, never repeated
}

TEST_CASE("signing out ends that session only", "[admin][sessions]") {
  AdminSessions sessions(4, std::chrono::hours(1));
  auto const a = sessions.open(), b = sessions.open();
  CHECK(sessions.close(a.id));
  CHECK_FALSE(sessions.close(a.id));
  CHECK_FALSE(sessions.find(a.id));
  CHECK(sessions.find(b.id));
}

TEST_CASE("the session cookie is read among the others of a Cookie header", "[admin][sessions]") {
  HttpRequest r;
  CHECK(posthog::server::session_cookie(r).empty());
  r.headers = {{"cookie", "theme=dark; posthog_admin_session=abc123; other=1"}};
  CHECK(posthog::server::session_cookie(r) == "abc123");
  r.headers = {{"cookie", "posthog_admin_session=xyz"}};
  CHECK(posthog::server::session_cookie(r) == "xyz");
  r.headers = {{"cookie", "not_posthog_admin_session=abc; posthog_admin_sessionx=def"}};
  CHECK(posthog::server::session_cookie(r).empty());
}

TEST_CASE("secrets compare equal only when every byte is", "[admin][sessions]") {
  using posthog::server::same_secret;
  CHECK(same_secret("abcdef", "abcdef"));
  CHECK_FALSE(same_secret("abcdef", "abcdeg"));
  CHECK_FALSE(same_secret("abcdef", "Xbcdef"));
  CHECK_FALSE(same_secret("abcdef", "abcde"));
  CHECK_FALSE(same_secret("", "a"));
}

}  // namespace admin_sessions_test
