#include "admin_api.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <charconv>
#include <optional>

#include "capture/body_decoder.hpp"
#include "http/bearer_token.hpp"
#include "sources/capture_endpoint.hpp"
#include "config/team_document.hpp"
#include "config/team_rules.hpp"
#include "generations/setup_retries.hpp"
#include "loader/plugin_module.hpp"
#include "generations/chain_set.hpp"
#include "common/event_ids.hpp"
#include "stores/plugin_attachments.hpp"
#include "json_answer.hpp"
#include "plugin_status.hpp"

namespace posthog::server {
namespace {

constexpr std::string_view redacted = "********";

std::optional<std::int64_t> parse_id(std::string_view s) {
  std::int64_t v = 0;
  auto const r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto const slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    path.remove_prefix(slash == std::string_view::npos ? path.size() : slash);
  }
  return parts;
}

std::size_t query_limit(std::string_view query, std::size_t fallback) {
  auto const at = query.find("limit=");
  if (at == std::string_view::npos || (at && query[at - 1] != '&')) return fallback;
  auto value = query.substr(at + 6);
  value = value.substr(0, value.find('&'));
  std::size_t v = 0;
  auto const r = std::from_chars(value.data(), value.data() + value.size(), v);
  if (r.ec != std::errc() || v == 0) return fallback;
  return std::min<std::size_t>(v, 1000);
}

// The team as the API shows it: secret fields of each plugin's config
// redacted, and how each plugin is doing.
boost::json::object redacted_team(const TeamSpec& team, const ChainSet& set, const TeamPluginStates* states) {
  auto doc = team_to_json(team);
  auto& plugins = doc["plugins"].as_array();
  for (std::size_t i = 0; i < team.plugins.size(); ++i) {
    if (states)
      plugins[i].as_object()["status"] =
          plugin_status_summary(*states, states->find(team.id, team.plugins[i].name));
    auto& config = plugins[i].as_object()["config"].as_object();
    if (auto instance = set.instance(team.plugins[i].name)) {
      config = instance->module().manifest().redact(team.plugins[i].config);
    } else {
      // No module, so no schema to say which fields are secret: hide them all.
      for (auto& kv : config) kv.value() = redacted;
    }
  }
  return doc;
}

// Secret fields sent back as "********" keep the value already set.
// A new team has no value to keep: the marker is dropped, and a required secret
// is then reported missing by the schema.
void keep_redacted_secrets(TeamSpec& next, const TeamSpec* current, const ChainSet& set) {
  for (auto& p : next.plugins) {
    auto instance = set.instance(p.name);
    if (!instance) continue;
    const TeamPluginSpec* before = nullptr;
    if (current)
      for (auto const& c : current->plugins)
        if (c.name == p.name) before = &c;
    for (auto const& field : instance->module().manifest().config) {
      if (!field.secret) continue;
      auto* v = p.config.if_contains(field.key);
      if (!v || !v->is_string() || v->get_string() != redacted) continue;
      auto const* old = before ? before->config.if_contains(field.key) : nullptr;
      if (old) *v = *old;
      else p.config.erase(field.key);
    }
  }
}

}  // namespace

bool AdminApi::bearer_authorized(const HttpRequest& request) const noexcept { return bearer_matches(request, c_.token); }

HttpResponse AdminApi::handle(const HttpRequest& request) {
  auto response = route(request);
  add_admin_security_headers(response);
  return response;
}

HttpResponse AdminApi::route(const HttpRequest& request) {
  auto const parts = split_path(request.path);
  bool const get = request.method == "GET" || request.method == "HEAD";
  if (get && request.path == "/_health") return json_answer(200, {{"status", "ok"}});
  if (get && request.path == "/_ready") {
    auto r = c_.readiness();
    return json_answer(r["ready"].as_bool() ? 200 : 503, r);
  }
  if (get && (request.path == "/" || (!parts.empty() && parts[0] == "ui"))) return console_file(request.path);
  if (parts.size() == 2 && parts[0] == "api" && parts[1] == "session") return session(request);
  if (auto refused = refusal(request)) return std::move(*refused);
  try {
    if (get && request.path == "/metrics") {
      HttpResponse r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      c_.metrics(r.body);
      return r;
    }
    if (parts.size() == 2 && parts[0] == "api" && parts[1] == "modules" && get) return modules();
    if (parts.size() == 2 && parts[0] == "api" && parts[1] == "overview" && get) return overview();
    if (parts.size() == 2 && parts[0] == "api" && parts[1] == "teams" && get) return teams();
    if (parts.size() >= 2 && parts.size() <= 4 && parts[0] == "api" && parts[1] == "plugins" && c_.swap) {
      std::string const name = parts.size() >= 3 ? std::string(parts[2]) : std::string();
      std::string const action = parts.size() == 4 ? std::string(parts[3]) : std::string();
      if (action.empty() && !get) return json_error(405, "method_not_allowed", "use GET, or POST .../reload or .../rollback");
      if (!action.empty() && request.method != "POST")
        return json_error(405, "method_not_allowed", "POST /api/plugins/{name}/" + action);
      return plugins(name, action);
    }
    if (parts.size() == 4 && parts[0] == "api" && parts[1] == "exports" && parts[3] == "replay" && c_.exports) {
      if (request.method != "POST") return json_error(405, "method_not_allowed", "POST /api/exports/{batch}/replay");
      return replay_export(parts[2]);
    }
    if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "jobs" && c_.jobs) {
      if (parts.size() == 2 && get) return jobs_overview();
      if (parts.size() == 4 && parts[3] == "replay") {
        if (request.method != "POST") return json_error(405, "method_not_allowed", "POST /api/jobs/{id}/replay");
        return replay_job(parts[2]);
      }
    }
    if (parts.size() >= 3 && parts[0] == "api" && parts[1] == "sink" && parts[2] == "parked") {
      if (parts.size() == 3 && get) return parked_batches(false);
      if (parts.size() == 4 && parts[3] == "retry" && request.method == "POST") return parked_batches(true);
    }
    if (parts.size() >= 3 && parts[0] == "api" && parts[1] == "teams") {
      auto const id = parse_id(parts[2]);
      if (!id) return json_error(404, "not_found", "no such team: '" + std::string(parts[2]) + "' is not a team id");
      if (auto why = team_id_problem(*id))
        return json_answer(400, {{"status", 0}, {"code", "invalid_team"}, {"error", *why}, {"field", "id"}});
      if (parts.size() == 3) {
        if (get) return team(*id);
        if (request.method == "PUT") return put_team(*id, request.body);
        if (request.method == "DELETE") return delete_team(*id);
        return json_error(405, "method_not_allowed", "a team takes GET, PUT or DELETE");
      }
      if (parts.size() == 5 && parts[3] == "plugins") {
        if (!get) return json_error(405, "method_not_allowed", "GET a team's plugin; POST .../enable");
        return plugin_status(*id, std::string(parts[4]));
      }
      if (parts.size() == 7 && parts[3] == "plugins" && parts[5] == "attachments")
        return plugin_attachment(*id, std::string(parts[4]), std::string(parts[6]), request);
      if (parts.size() == 6 && parts[3] == "plugins" && parts[5] == "enable") {
        if (request.method != "POST") return json_error(405, "method_not_allowed", "POST /api/teams/{id}/plugins/{name}/enable");
        return enable_plugin(*id, std::string(parts[4]));
      }
      if (parts.size() == 6 && parts[3] == "plugins" && parts[5] == "exports" && get && c_.exports)
        return plugin_exports(*id, std::string(parts[4]));
      if (parts.size() == 6 && parts[3] == "plugins" && parts[5] == "jobs" && get && c_.jobs)
        return plugin_jobs(*id, std::string(parts[4]));
      if (parts.size() == 6 && parts[3] == "plugins" && parts[5] == "app_metrics" && get)
        return app_metrics(*id, std::string(parts[4]));
      if (parts.size() == 6 && parts[3] == "plugins" && (parts[5] == "logs" || parts[5] == "errors") && get)
        return plugin_logs(*id, std::string(parts[4]), request.query, parts[5] == "errors");
      if (parts.size() == 4 && parts[3] == "logs" && get) return team_logs(*id, request.query);
    }
    return json_error(404, "not_found", "no such admin endpoint: " + request.method + " " + request.path);
  } catch (const StoreError& e) {
    return json_error(500, "store_error", e.what());
  }
}

HttpResponse AdminApi::modules() const {
  auto const set = c_.chains.current();
  boost::json::array modules;
  for (auto const& instance : set->instances()) {
    auto const& m = instance->module();
    auto o = m.descriptor().to_json();
    o["file"] = m.file();
    boost::system::error_code ec;
    auto manifest = boost::json::parse(m.descriptor().manifest, ec);
    o["manifest"] = ec ? boost::json::value(m.descriptor().manifest) : manifest;
    modules.push_back(std::move(o));
  }
  boost::json::array refused;
  for (auto const& r : c_.refusals) {
    boost::json::array details;
    for (auto const& d : r.details()) details.emplace_back(d);
    refused.push_back(
        {{"file", r.file()}, {"step", to_string(r.step())}, {"field", r.field()}, {"details", std::move(details)}});
  }
  return json_answer(200, {{"modules", std::move(modules)}, {"load_errors", std::move(refused)}});
}

HttpResponse AdminApi::teams() const {
  auto const set = c_.chains.current();
  boost::json::array out;
  for (auto const& [id, spec] : set->teams()) out.push_back(redacted_team(spec, *set, c_.services.states));
  return json_answer(200, {{"teams", std::move(out)}});
}

HttpResponse AdminApi::team(std::int64_t id) const {
  auto const set = c_.chains.current();
  auto const* spec = set->team(id);
  if (!spec) return json_error(404, "not_found", "no team " + std::to_string(id));
  return json_answer(200, redacted_team(*spec, *set, c_.services.states));
}

HttpResponse AdminApi::put_team(std::int64_t id, const std::string& body) {
  boost::system::error_code ec;
  auto document = boost::json::parse(body, ec);
  if (ec) return json_error(400, "invalid_json", "the body is not valid JSON: " + ec.message());
  try {
    std::shared_ptr<const ChainSet> next;
    TeamSpec spec;
    c_.chains.update([&](const ChainSet& current) {
      spec = team_from_json(document, id);
      keep_redacted_secrets(spec, current.team(id), current);
      next = ChainSet::with_team(current, spec, c_.services);
      team_registry().save_team(spec);  // stored first: a change the API confirmed survives a restart
      return next;
    });
    auto answer = redacted_team(spec, *next, c_.services.states);
    answer["cluster"] = announce_team(id);
    return json_answer(200, answer);
  } catch (const TeamDocumentError& e) {
    return json_answer(400, {{"status", 0}, {"code", "invalid_team"}, {"error", e.what()}, {"field", e.field()}});
  }
}

HttpResponse AdminApi::delete_team(std::int64_t id) {
  bool found = true;
  c_.chains.update([&](const ChainSet& current) -> std::shared_ptr<const ChainSet> {
    found = current.team(id) != nullptr;
    if (!found) return nullptr;
    team_registry().delete_team(id);
    return ChainSet::without_team(current, id);
  });
  if (!found) return json_error(404, "not_found", "no team " + std::to_string(id));
  return json_answer(200, {{"status", 1}, {"deleted", id}, {"cluster", announce_team(id)}});
}

boost::json::value AdminApi::announce_team(std::int64_t id) {
  if (!c_.announce) return "single server";
  try {
    c_.announce({{"type", "team"}, {"id", id}});
    return "announced";
  } catch (const std::exception& e) {
    // Kept in the registry all the same: the others pick it up at their next resync.
    return boost::json::value(std::string("not announced (the others will see it when they resync): ") + e.what());
  }
}

HttpResponse AdminApi::plugins(const std::string& name, const std::string& action) {
  if (name.empty()) {
    return json_answer(200, {{"generation", c_.chains.generation()},
                             {"images_mapped", PluginModule::mapped_images()},
                             {"plugins", c_.versions->to_json()}});
  }
  if (std::none_of(c_.swap->plugins().begin(), c_.swap->plugins().end(),
                   [&](const PluginSpec& p) { return p.name == name; }))
    return json_error(404, "not_found", "no plugin called '" + name + "' is in the config");
  if (action.empty()) return json_answer(200, c_.versions->to_json(name));
  SwapResult result;
  if (action == "reload") result = c_.swap->swap_in(name, "admin");
  else if (action == "rollback") result = c_.swap->roll_back(name);
  else return json_error(404, "not_found", "a plugin takes POST .../reload or .../rollback, not '" + action + "'");
  auto body = result.to_json();
  if (result.outcome != SwapResult::Outcome::refused) {
    body["status"] = 1;
    return json_answer(200, body);
  }
  body["status"] = 0;
  // Nothing to roll back to is a conflict with the server's state; a build
  // that was refused is a request the server understood and could not apply.
  bool const nothing_to_roll_back = result.refusal && result.refusal->step == "name";
  body["code"] = nothing_to_roll_back ? "no_previous_version" : "swap_refused";
  body["error"] = result.refusal ? result.refusal->message : "refused";
  return json_answer(nothing_to_roll_back ? 409 : 422, body);
}

HttpResponse AdminApi::plugin_status(std::int64_t id, const std::string& plugin) {
  auto const set = c_.chains.current();
  auto const* team = set->team(id);
  if (!team) return json_error(404, "not_found", "no team " + std::to_string(id));
  auto const* entry = [&]() -> const TeamPluginSpec* {
    for (auto const& p : team->plugins)
      if (p.name == plugin) return &p;
    return nullptr;
  }();
  if (!entry) return json_error(404, "not_found", "team " + std::to_string(id) + " has no plugin '" + plugin + "'");
  boost::json::object status{{"team_id", id}, {"plugin", plugin}, {"identifier", plugin + " (" + std::to_string(id) + ")"},
                             {"enabled", entry->enabled}};
  bool serving = false;
  if (auto const* chain = set->chain(id))
    for (auto const& copy : chain->plugins()) serving = serving || copy->name() == plugin;
  status["serving"] = serving;
  if (auto const* states = c_.services.states)
    for (auto& kv : plugin_status_json(*states, states->find(id, plugin))) status[kv.key()] = kv.value();
  if (auto const instance = set->instance(plugin)) {
    boost::json::object uploaded;
    for (auto const& field : instance->module().manifest().config)
      if (field.type == posthog::ConfigFieldType::attachment)
        if (auto const a = PluginAttachments(*c_.services.storage).get(id, plugin, field.key))
          uploaded[field.key] = {{"file_name", a->file_name}, {"content_type", a->content_type}, {"size", a->size}};
    status["attachments"] = std::move(uploaded);
  }
  if (c_.exports) {
    // PostHog declared these for every exporting plugin (extensions/metrics.ts): sums, per plugin config.
    auto const all = c_.exports->tallies();
    if (auto const it = all.find({id, plugin}); it != all.end()) {
      if (!status["metrics"].is_object()) status["metrics"] = boost::json::object{};
      auto& metrics = status["metrics"].as_object();
      auto const& t = it->second;
      for (auto const& [name, value] :
           {std::pair{"events_seen", t.events_seen}, std::pair{"events_delivered_successfully", t.events_delivered},
            std::pair{"undelivered_events", t.events_undelivered}, std::pair{"retry_errors", t.retry_errors},
            std::pair{"other_errors", t.other_errors}})
        metrics[name] = boost::json::object{{"kind", "sum"}, {"value", value}};
    }
  }
  return json_answer(200, status);
}

HttpResponse AdminApi::plugin_attachment(std::int64_t id, const std::string& plugin, const std::string& key,
                                         const HttpRequest& request) {
  bool const get = request.method == "GET" || request.method == "HEAD";
  if (!get && request.method != "PUT" && request.method != "DELETE")
    return json_error(405, "method_not_allowed", "an attachment takes GET, PUT (the file as the body) or DELETE");
  auto const set = c_.chains.current();
  auto const* team = set->team(id);
  if (!team || std::none_of(team->plugins.begin(), team->plugins.end(),
                            [&](const TeamPluginSpec& p) { return p.name == plugin; }))
    return json_error(404, "not_found", "team " + std::to_string(id) + " has no plugin '" + plugin + "'");
  auto const instance = set->instance(plugin);
  auto const* field = instance ? instance->module().manifest().field(key) : nullptr;
  if (!field || field->type != posthog::ConfigFieldType::attachment)
    return json_error(404, "not_found", "plugin '" + plugin + "' has no attachment field '" + key + "'");
  PluginAttachments attachments(*c_.services.storage);
  auto describe = [&](const StoredAttachment& a) {
    return boost::json::object{{"team_id", id},       {"plugin", plugin},     {"key", key},
                               {"file_name", a.file_name}, {"content_type", a.content_type}, {"size", a.size},
                               {"uploaded_at", iso_time_or_null(a.uploaded_at_ms)}};
  };
  if (get) {
    auto const a = attachments.get(id, plugin, key);
    if (!a) return json_error(404, "not_found", "nothing was uploaded for '" + key + "'");
    return json_answer(200, describe(*a));  // the bytes stay with the plugin: a secret file is never read back
  }
  if (request.method == "PUT" && request.body.size() > PluginAttachments::max_bytes)
    return json_error(413, "too_large", "an attachment may hold " + std::to_string(PluginAttachments::max_bytes) +
                                            " bytes at most");
  StoredAttachment upload;
  if (request.method == "PUT") {
    upload.file_name = form_value(request.query, "file_name");
    if (upload.file_name.empty()) upload.file_name = key;
    upload.content_type = std::string(request.header("content-type"));
    if (upload.content_type.empty()) upload.content_type = "application/octet-stream";
    upload.contents = request.body;
    upload.size = upload.contents.size();
    upload.uploaded_at_ms = epoch_ms_now();
  }
  // Stored, then the team's copies set up again with it (PostHog reloaded the
  // plugin config); a set-up that refuses it puts the old one back.
  auto const before = attachments.raw(id, plugin, key);
  if (request.method == "PUT") attachments.put(id, plugin, key, upload);
  else if (!attachments.remove(id, plugin, key)) return json_error(404, "not_found", "nothing was uploaded for '" + key + "'");
  try {
    c_.chains.update([&](const ChainSet& current) -> std::shared_ptr<const ChainSet> {
      auto const* spec = current.team(id);
      return spec ? ChainSet::with_team(current, *spec, c_.services) : nullptr;
    });
  } catch (const TeamDocumentError& e) {
    attachments.restore(id, plugin, key, before);
    return json_answer(400, {{"status", 0}, {"code", "invalid_attachment"}, {"error", e.what()}, {"field", e.field()}});
  }
  boost::json::object answer{{"status", 1}, {"cluster", announce_team(id)}};
  if (request.method == "PUT") answer["attachment"] = describe(upload);
  else answer["deleted"] = key;
  return json_answer(200, answer);
}

HttpResponse AdminApi::enable_plugin(std::int64_t id, const std::string& plugin) {
  auto* states = c_.services.states;
  if (!states) return json_error(404, "not_found", "this server keeps no plugin health");
  if (auto const* team = c_.chains.current()->team(id);
      !team || std::none_of(team->plugins.begin(), team->plugins.end(),
                            [&](const TeamPluginSpec& p) { return p.name == plugin; }))
    return json_error(404, "not_found", "team " + std::to_string(id) + " has no plugin '" + plugin + "'");
  if (auto* state = states->find(id, plugin)) {
    states->report(*state, state->health().enable(states->policy(), states->now()));
    if (c_.services.setup_retries) c_.services.setup_retries->retry_now(id, plugin);  // a failed set-up: again, now
  }
  return plugin_status(id, plugin);
}

HttpResponse AdminApi::plugin_exports(std::int64_t id, const std::string& plugin) {
  auto& queue = c_.exports->queue();
  auto const counts = queue.counts(id, plugin);
  ExportTally tally;
  if (auto const all = c_.exports->tallies(); all.count({id, plugin})) tally = all.at({id, plugin});
  boost::json::array dead;
  for (auto const& b : queue.dead_letters(id, plugin, 100))
    dead.push_back({{"id", b.id}, {"events", b.events.size()}, {"attempts", b.attempt}, {"last_error", b.last_error}});
  return json_answer(200, {{"team_id", id},
                           {"plugin", plugin},
                           {"pending_events", counts.pending_events},
                           {"pending_bytes", counts.pending_bytes},
                           {"retrying_batches", counts.retrying_batches},
                           {"dead_batches", counts.dead_batches},
                           {"events_seen", tally.events_seen},
                           {"events_delivered", tally.events_delivered},
                           {"events_undelivered", tally.events_undelivered},
                           {"retry_errors", tally.retry_errors},
                           {"other_errors", tally.other_errors},
                           {"postponed_for_health", tally.postponed},
                           {"last_error", tally.last_error},
                           {"dead_letters", std::move(dead)}});
}

HttpResponse AdminApi::replay_export(std::string_view batch) {
  auto const id = parse_id(batch);
  if (!id || !c_.exports->queue().replay(*id, epoch_ms_now()))
    return json_error(404, "not_found", "no dead letter " + std::string(batch));
  return json_answer(200, {{"status", 1}, {"replayed", *id}});
}

namespace {

boost::json::object job_json(const Job& job) {
  boost::json::object o{{"id", job.id},
                        {"name", job.name},
                        {"state", job.state},
                        {"run_at", std::string(iso8601_text(job.run_at_ms).view())},
                        {"attempts", job.attempt},
                        {"last_error", job.last_error}};
  boost::system::error_code ec;
  auto payload = boost::json::parse(job.payload, ec);  // cut at 4 KiB by the queue: may not parse
  o["payload"] = ec ? boost::json::value(job.payload) : std::move(payload);
  return o;
}

}  // namespace

HttpResponse AdminApi::jobs_overview() {
  auto const totals = c_.jobs->queue().totals();
  boost::json::array schedules;
  if (c_.schedules)
    for (auto const& s : c_.schedules->state())
      schedules.push_back({{"task", s.task},
                           {"last_period", iso_time_or_null(s.last_period_ms)},
                           {"next_run", iso_time_or_null(s.next_run_ms)},
                           {"runs_queued", s.runs_queued},
                           {"runs_skipped", s.runs_skipped}});
  return json_answer(200, {{"queued", totals.queued},
                           {"running", totals.running},
                           {"failed", totals.failed},
                           {"next_job_at", iso_time_or_null(totals.next_run_at_ms)},
                           {"schedules", std::move(schedules)}});
}

HttpResponse AdminApi::plugin_jobs(std::int64_t id, const std::string& plugin) {
  auto& queue = c_.jobs->queue();
  auto const counts = queue.counts(id, plugin);
  JobTally tally;
  if (auto const all = c_.jobs->tallies(); all.count({id, plugin})) tally = all.at({id, plugin});
  boost::json::array declared, queued, failed;
  if (auto const instance = c_.chains.current()->instance(plugin))
    for (auto const& name : instance->module().job_names()) declared.push_back(boost::json::value(name));
  for (auto const& j : queue.list(id, plugin, "queued", 100)) queued.push_back(job_json(j));
  for (auto const& j : queue.list(id, plugin, "failed", 100)) failed.push_back(job_json(j));
  return json_answer(200, {{"team_id", id},
                           {"plugin", plugin},
                           {"declared", std::move(declared)},
                           {"queued", counts.queued},
                           {"running", counts.running},
                           {"failed", counts.failed},
                           {"next_run_at", iso_time_or_null(counts.next_run_at_ms)},
                           {"runs", tally.runs},
                           {"succeeded", tally.succeeded},
                           {"retry_errors", tally.retry_errors},
                           {"failures", tally.failed},
                           {"scheduled_runs_ok", tally.scheduled_ok},
                           {"scheduled_runs_failed", tally.scheduled_failed},
                           {"last_error", tally.last_error},
                           {"queued_jobs", std::move(queued)},
                           {"failed_jobs", std::move(failed)}});
}

HttpResponse AdminApi::replay_job(std::string_view job) {
  auto const id = parse_id(job);
  if (!id || !c_.jobs->queue().replay(*id, epoch_ms_now()))
    return json_error(404, "not_found", "no failed job " + std::string(job));
  c_.jobs->wake();
  return json_answer(200, {{"status", 1}, {"replayed", *id}});
}

HttpResponse AdminApi::parked_batches(bool retry) {
  if (!c_.forward) return json_error(404, "not_found", "the sink is not the PostHog forward sink: nothing is parked");
  if (retry) return json_answer(200, {{"status", 1}, {"requeued_events", c_.forward->retry_parked()}});
  boost::json::array out;
  for (auto const& p : c_.store.parked(100))
    out.push_back({{"id", p.id},
                   {"token", p.token},
                   {"events", p.events},
                   {"status", p.status},
                   {"answer", p.answer},
                   {"at", iso8601(p.at)}});
  return json_answer(200, {{"parked", std::move(out)}});
}

namespace {

constexpr const char* level_names[] = {"debug", "info", "warn", "error"};

// ?level=warn: that level and above; no level (or an unknown one), everything.
int query_level(std::string_view query) {
  auto const wanted = form_value(query, "level");
  for (int i = 0; i < 4; ++i)
    if (wanted == level_names[i]) return i;
  return 0;
}

boost::json::object log_line_json(const PluginLogLine& l) {
  return {{"at", iso8601(l.at)},
          {"level", l.level >= 0 && l.level < 4 ? level_names[l.level] : "info"},
          {"plugin", l.plugin},
          {"message", l.message}};
}

}  // namespace

HttpResponse AdminApi::plugin_logs(std::int64_t id, const std::string& plugin, std::string_view query, bool errors) {
  auto const limit = query_limit(query, 100);
  boost::json::array out;
  if (errors) {
    for (auto const& e : c_.store.errors(id, plugin, limit)) {
      boost::system::error_code ec;
      auto event = e.event_json.empty() ? boost::json::value() : boost::json::parse(e.event_json, ec);
      out.push_back({{"at", iso8601(e.at)},
                     {"hook", e.hook},
                     {"kind", e.kind},
                     {"message", e.message},
                     {"event_uuid", e.event_uuid},
                     {"event", ec ? boost::json::value(e.event_json) : event}});
    }
  } else {
    int const level = query_level(query);
    // Filtered after reading: a level that is rare may need more than `limit` lines read.
    for (auto const& l : c_.store.log_lines(id, plugin, level ? 1000 : limit))
      if (l.level >= level && out.size() < limit) out.push_back(log_line_json(l));
  }
  return json_answer(200, {{"team_id", id}, {"plugin", plugin}, {errors ? "errors" : "logs", std::move(out)}});
}

HttpResponse AdminApi::team_logs(std::int64_t id, std::string_view query) {
  auto const* team = c_.chains.current()->team(id);
  if (!team) return json_error(404, "not_found", "no team " + std::to_string(id));
  auto const limit = query_limit(query, 100);
  int const level = query_level(query);
  std::vector<PluginLogLine> lines;
  for (auto const& p : team->plugins)
    for (auto& l : c_.store.log_lines(id, p.name, level ? 1000 : limit))
      if (l.level >= level) lines.push_back(std::move(l));
  std::stable_sort(lines.begin(), lines.end(), [](auto const& a, auto const& b) { return a.at > b.at; });
  boost::json::array out;
  for (std::size_t i = 0; i < lines.size() && i < limit; ++i) out.push_back(log_line_json(lines[i]));
  return json_answer(200, {{"team_id", id}, {"logs", std::move(out)}});
}

}  // namespace posthog::server
