// The admin API's side of the web console: its files, its sign-in sessions,
// who may use the API, the security headers, and the two views only the
// console asks for (the overview's counters, a plugin's hourly app metrics).
#include <boost/json/parse.hpp>

#include "admin_api.hpp"
#include "common/epoch_ms.hpp"
#include "console_assets.hpp"
#include "health/team_plugin_states.hpp"
#include "json_answer.hpp"
#include "metrics/hourly_app_metrics.hpp"
#include "metrics/pipeline_metrics.hpp"
#include "plugin_status.hpp"
#include "sources/capture_endpoint.hpp"

namespace posthog::server {
namespace {

// Only this port's own files run, nothing inline, no other origin is reached,
// and no other page may frame the console.
constexpr const char* content_security_policy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

bool changes_something(std::string_view method) noexcept {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

HttpResponse unauthorized(std::string_view code, std::string_view message) {
  auto r = json_error(401, code, message);
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace

void add_admin_security_headers(HttpResponse& response) {
  response.headers.emplace_back("Content-Security-Policy", content_security_policy);
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  response.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
  bool has_cache_control = false;
  for (auto const& [name, value] : response.headers) has_cache_control = has_cache_control || name == "Cache-Control";
  if (!has_cache_control) response.headers.emplace_back("Cache-Control", "no-store");  // answers hold configs
}

HttpResponse AdminApi::console_file(std::string_view path) const {
  // /ui/assets/<file> is a file; every other console path is the one page,
  // which reads the path itself (/ui/teams/2 opens team 2).
  constexpr std::string_view assets = "/ui/assets/";
  std::string_view const wanted = path.starts_with(assets) ? path.substr(assets.size()) : "index.html";
  for (auto const& asset : console_assets()) {
    if (asset.name != wanted) continue;
    HttpResponse r;
    r.content_type = std::string(asset.content_type);
    r.body = std::string(asset.body);
    // Built into this binary: a new server may bring new files under the same names.
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
  }
  return json_error(404, "not_found", "the console has no file '" + std::string(wanted) + "'");
}

std::optional<HttpResponse> AdminApi::refusal(const HttpRequest& request) const {
  if (!request.header("authorization").empty()) {
    if (bearer_authorized(request)) return std::nullopt;
    return unauthorized("unauthorized", "the admin token is not valid");
  }
  auto const cookie = session_cookie(request);
  if (cookie.empty())
    return unauthorized("unauthorized",
                        "the admin API needs an Authorization: Bearer <token> header, or a console session");
  auto const s = sessions_.find(cookie);
  if (!s) return unauthorized("session_ended", "the console session has ended: sign in again");
  // The cookie goes with any request the browser makes to this port, the
  // CSRF token only with the console's own: a change needs both.
  if (changes_something(request.method) && !same_secret(request.header("x-csrf-token"), s->csrf_token))
    return json_error(403, "csrf_token_missing",
                      "a change made with a console session needs the session's X-CSRF-Token header");
  return std::nullopt;
}

HttpResponse AdminApi::session(const HttpRequest& request) {
  auto describe = [](const AdminSession& s) {
    return boost::json::object{{"signed_in", true},
                               {"csrf_token", s.csrf_token},
                               {"expires_at", iso_time_or_null(s.expires_at_ms)}};
  };
  if (request.method == "POST") {
    // The token comes in the body, never in the URL, where logs and history would keep it.
    boost::system::error_code ec;
    auto const body = boost::json::parse(request.body, ec);
    auto const* token = !ec && body.is_object() ? body.as_object().if_contains("token") : nullptr;
    if (!token || !token->is_string())
      return json_error(400, "invalid_sign_in", "send {\"token\": \"<the admin token>\"} as JSON");
    if (!same_secret(token->get_string(), c_.token)) return unauthorized("unauthorized", "the admin token is not valid");
    auto const s = sessions_.open();
    auto r = json_answer(200, describe(s));
    r.headers.emplace_back("Set-Cookie", session_cookie_header(s, sessions_.lifetime()));
    return r;
  }
  if (request.method != "GET" && request.method != "HEAD" && request.method != "DELETE")
    return json_error(405, "method_not_allowed", "POST /api/session signs in, GET reads it, DELETE signs out");
  auto const cookie = session_cookie(request);
  auto const s = cookie.empty() ? std::nullopt : sessions_.find(cookie);
  if (!s) return unauthorized("session_ended", "no console session: sign in with the admin token");
  if (request.method != "DELETE") return json_answer(200, describe(*s));
  if (!same_secret(request.header("x-csrf-token"), s->csrf_token))
    return json_error(403, "csrf_token_missing", "signing out needs the session's X-CSRF-Token header");
  sessions_.close(cookie);
  auto r = json_answer(200, {{"signed_in", false}});
  r.headers.emplace_back("Set-Cookie", expired_session_cookie_header());
  return r;
}

HttpResponse AdminApi::overview() const {
  boost::json::object out{{"at", iso_time_or_null(epoch_ms_now())}};
  std::uint64_t in = 0, sunk = 0, dropped = 0;
  boost::json::array teams, latency_counts, latency_bounds;
  if (auto const* metrics = c_.services.metrics) {
    auto const snapshot = metrics->snapshot();
    for (auto const& t : snapshot.teams) {
      in += t.in;
      sunk += t.out;
      dropped += t.dropped;
      teams.push_back({{"team_id", t.team_id}, {"in", t.in}, {"out", t.out}, {"dropped", t.dropped}});
    }
    for (auto const b : PluginTimings::bounds) latency_bounds.push_back(b);
    for (auto const c : snapshot.latency) latency_counts.push_back(c);
  }
  out["events"] = {{"in", in}, {"out", sunk}, {"dropped", dropped}};
  out["refused_503"] = c_.capture_refusals ? c_.capture_refusals() : 0;
  // Not cumulative: counts[i] were at most bounds[i] seconds (and over the
  // one before); the last counts what took longer than every bound.
  out["latency"] = {{"hook", "process_event"}, {"bounds_seconds", std::move(latency_bounds)},
                    {"counts", std::move(latency_counts)}};
  out["teams"] = std::move(teams);
  boost::json::array unhealthy;
  if (auto const* states = c_.services.states) {
    for (auto const* s : states->all()) {
      auto const status = plugin_status_json(*states, s);
      auto const& health = status.at("health").as_object();
      auto const& setup = status.at("setup").as_object();
      if (health.at("state") == "healthy" && setup.at("state") == "ok") continue;
      boost::json::object o{{"team_id", s->team_id()}, {"plugin", s->plugin()}, {"health", health.at("state")},
                            {"setup", setup.at("state")}};
      if (auto const* last = health.if_contains("last_transition")) o["reason"] = last->at("reason");
      if (setup.at("state") != "ok") o["setup_error"] = setup.at("last_error");
      unhealthy.push_back(std::move(o));
    }
  }
  out["unhealthy"] = std::move(unhealthy);
  return json_answer(200, out);
}

HttpResponse AdminApi::app_metrics(std::int64_t id, const std::string& plugin) const {
  if (!c_.services.app_metrics) return json_error(404, "not_found", "this server keeps no app metrics");
  auto const* team = c_.chains.current()->team(id);
  if (!team) return json_error(404, "not_found", "no team " + std::to_string(id));
  auto const now = epoch_ms_now();
  auto const* calls = c_.services.app_metrics->find(id, plugin);
  boost::json::array hours;
  for (auto const& h : calls ? calls->last_day(now) : HourlyCalls().last_day(now)) {
    auto const counted = h.successes + h.failures;
    hours.push_back({{"hour", iso_time_or_null(h.hour_start_ms)},
                     {"successes", h.successes},
                     {"failures", h.failures},
                     {"duration_ms", static_cast<double>(h.duration_ns) / 1e6},
                     {"average_ms", counted ? static_cast<double>(h.duration_ns) / 1e6 / static_cast<double>(counted)
                                            : 0.0}});
  }
  // Each server counts the calls it made, in memory (like plugin health).
  return json_answer(200, {{"team_id", id}, {"plugin", plugin}, {"kept", "per server, since it started"},
                           {"hours", std::move(hours)}});
}

}  // namespace posthog::server
