// AdminApi: JSON over HTTP on its own port, for operators, never for clients,
// and the web console that uses it (admin_console.cpp).
//
//   GET    /_health, /_ready                        no token needed (probes)
//   GET    /, /ui/...                               the console's page; /ui/assets/{file}
//                                                   its scripts and styles (no token needed:
//                                                   they hold no data)
//   POST   /api/session                             {"token"}: the console signs in (a session
//                                                   cookie, and the CSRF token in the answer)
//   GET    /api/session, DELETE /api/session        the session's CSRF token; sign out
//   GET    /api/overview                            counters for the console's live charts
//   GET    /metrics                                 Prometheus text format
//   GET    /api/modules                             loaded modules, and the refused ones
//   GET    /api/teams                               every team: id, token, chain
//   GET    /api/teams/{id}                          one team, secret config fields redacted
//   PUT    /api/teams/{id}                          set its token and chain: validated
//                                                   against each plugin's schema, applied
//                                                   at once, kept in the store
//   DELETE /api/teams/{id}
//   GET    /api/teams/{id}/plugins/{name}           how it is doing: health (state, tokens,
//                                                   last transition), set-up, declared metrics
//   POST   /api/teams/{id}/plugins/{name}/enable    a paused or disabled plugin runs again
//                                                   (full bucket; a failed set-up is retried)
//   PUT    /api/teams/{id}/plugins/{name}/attachments/{key}?file_name=x.csv
//                                                   a file for an `attachment` field (the body,
//                                                   its Content-Type): stored, the team set up again
//   GET    .../attachments/{key}, DELETE            what was uploaded (never the bytes); remove it
//   GET    /api/teams/{id}/plugins/{name}/logs      newest first, ?limit=N (default 100), ?level=warn
//   GET    /api/teams/{id}/logs                     every plugin of the team's lines, merged, newest first
//   GET    /api/teams/{id}/plugins/{name}/errors    each with the event that caused it
//   GET    /api/teams/{id}/plugins/{name}/app_metrics
//                                                   calls that succeeded and failed, and their
//                                                   time, per hour over the last 24 hours
//   GET    /api/plugins                             per plugin: version serving, previous,
//                                                   refused swap attempts (file, step, team, field)
//   GET    /api/plugins/{name}
//   POST   /api/plugins/{name}/reload               swap to the plugin's file as it is now
//   POST   /api/plugins/{name}/rollback             back to the version that served before
//   GET    /api/teams/{id}/plugins/{name}/exports   export_events: pending, retrying, dead letters,
//                                                   counters (seen, delivered, undelivered, errors)
//   POST   /api/exports/{batch}/replay              a dead letter handed over again, attempts from 0
//   GET    /api/jobs                                jobs queued, running, failed; each schedule's
//                                                   last period and next run
//   GET    /api/teams/{id}/plugins/{name}/jobs      declared jobs, counts, queued and failed jobs
//   POST   /api/jobs/{id}/replay                    a failed job queued again, attempts from 0
//   GET    /api/sink/parked                         forward batches the target refused for good
//   POST   /api/sink/parked/retry                   put them back in the backlog
//
// Everything but the probes and the console's files needs `Authorization:
// Bearer <token>` or a console session (and then, to change anything, the
// session's X-CSRF-Token header); with no token configured the API does not
// listen at all. Every answer carries a Content-Security-Policy that allows
// only the port's own scripts, and none grants another origin access (no
// CORS). Secret fields are never returned:
// they read "********", and a PUT that sends "********" back for one keeps the
// value already set, so a client can round-trip a team without knowing it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "http/http_exchange.hpp"
#include "common/load_error.hpp"
#include "exports/export_runner.hpp"
#include "jobs/job_runner.hpp"
#include "jobs/scheduler.hpp"
#include "generations/module_swap.hpp"
#include "host/plugin_scope.hpp"
#include "generations/live_chains.hpp"
#include "sinks/posthog_forward_sink.hpp"
#include "stores/durable_store.hpp"
#include "admin_sessions.hpp"

namespace posthog::server {

struct AdminContext {
  std::string token;
  LiveChains& chains;
  HostServices& services;
  DurableStore& store;
  const std::vector<LoadError>& refusals;
  std::function<void(std::string&)> metrics;       // appends Prometheus text
  std::function<boost::json::object()> readiness;  // has "ready": bool
  PosthogForwardSink* forward = nullptr;           // null with the JSONL sink
  ModuleSwap* swap = nullptr;                      // null: no plugin endpoints
  PluginVersions* versions = nullptr;
  ExportRunner* exports = nullptr;                 // null: no export endpoints
  JobRunner* jobs = nullptr;                       // null: no job endpoints
  Scheduler* schedules = nullptr;
  TeamRegistry* teams = nullptr;                   // where PUT/DELETE keep teams; null: the store
  // Tells the other servers of a cluster (with Redis); null: a single server.
  std::function<void(boost::json::object)> announce;
  // Capture requests answered 503 so far, for the overview; null: none counted.
  std::function<std::uint64_t()> capture_refusals;
  std::size_t max_sessions = 16;
  std::chrono::seconds session_lifetime = std::chrono::hours(8);
};

class AdminApi {
 public:
  explicit AdminApi(AdminContext context)
      : c_(std::move(context)), sessions_(c_.max_sessions, c_.session_lifetime) {}
  // Every answer, with the port's security headers.
  HttpResponse handle(const HttpRequest& request);

 private:
  HttpResponse route(const HttpRequest& request);
  // admin_console.cpp: the console's files, its sessions, and what only it asks for.
  HttpResponse console_file(std::string_view path) const;
  HttpResponse session(const HttpRequest& request);
  // Why a request may not use the API (no token, a wrong one, an ended
  // session, a change without the session's CSRF token); nothing when it may.
  std::optional<HttpResponse> refusal(const HttpRequest& request) const;
  HttpResponse overview() const;
  HttpResponse app_metrics(std::int64_t id, const std::string& plugin) const;

  HttpResponse modules() const;
  HttpResponse teams() const;
  HttpResponse team(std::int64_t id) const;
  HttpResponse put_team(std::int64_t id, const std::string& body);
  HttpResponse delete_team(std::int64_t id);
  HttpResponse plugin_logs(std::int64_t id, const std::string& plugin, std::string_view query, bool errors);
  HttpResponse team_logs(std::int64_t id, std::string_view query);
  HttpResponse parked_batches(bool retry);
  HttpResponse plugins(const std::string& name, const std::string& action);
  HttpResponse plugin_status(std::int64_t id, const std::string& plugin);
  HttpResponse enable_plugin(std::int64_t id, const std::string& plugin);
  HttpResponse plugin_attachment(std::int64_t id, const std::string& plugin, const std::string& key,
                                 const HttpRequest& request);
  HttpResponse plugin_exports(std::int64_t id, const std::string& plugin);
  HttpResponse replay_export(std::string_view batch);
  HttpResponse jobs_overview();
  HttpResponse plugin_jobs(std::int64_t id, const std::string& plugin);
  HttpResponse replay_job(std::string_view job);
  bool bearer_authorized(const HttpRequest& request) const noexcept;
  TeamRegistry& team_registry() const noexcept { return c_.teams ? *c_.teams : c_.store; }
  // Announces a team change; what the response says about it.
  boost::json::value announce_team(std::int64_t id);

  AdminContext c_;
  AdminSessions sessions_;
};

// Content-Security-Policy and its companions, on every answer of the admin port.
void add_admin_security_headers(HttpResponse& response);

}  // namespace posthog::server
