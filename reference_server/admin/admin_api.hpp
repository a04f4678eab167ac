// AdminApi: JSON over HTTP on its own port, for operators, never for clients.
//
//   GET    /_health, /_ready                        no token needed (probes)
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
// Everything but the probes needs `Authorization: Bearer <token>`; with no token
// configured the API does not listen at all. Secret fields are never returned:
// they read "********", and a PUT that sends "********" back for one keeps the
// value already set, so a client can round-trip a team without knowing it.
#pragma once

#include <functional>
#include <mutex>
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
};

class AdminApi {
 public:
  explicit AdminApi(AdminContext context) : c_(std::move(context)) {}
  HttpResponse handle(const HttpRequest& request);

 private:
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
  bool authorized(const HttpRequest& request) const noexcept;
  TeamRegistry& team_registry() const noexcept { return c_.teams ? *c_.teams : c_.store; }
  // Announces a team change; what the response says about it.
  boost::json::value announce_team(std::int64_t id);

  AdminContext c_;
};

}  // namespace posthog::server
