#include "plugin_chain.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <optional>

#include "health/hook_calls.hpp"
#include "common/plugin_log.hpp"

namespace posthog::server {
namespace {

std::string uuid_of(const boost::json::object& event) {
  auto const* v = event.if_contains("uuid");
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

void record(PluginLog& log, const TeamPlugin& plugin, const char* hook, const posthog_error& error,
            const boost::json::object& event) {
  log.error({plugin.team_id(), plugin.name(), hook, error.kind, error.message, uuid_of(event),
             boost::json::serialize(event), {}});
}

void subject_of(const boost::json::object& event, std::string& subject) {
  subject.assign("event ");
  if (auto const* uuid = event.if_contains("uuid"); uuid && uuid->is_string()) subject += uuid->get_string();
}

}  // namespace

PluginChain::PluginChain(std::int64_t team_id, std::vector<std::shared_ptr<TeamPlugin>> plugins,
                         TeamCounters* counters, std::vector<std::string> awaiting_setup)
    : team_id_(team_id),
      plugins_(std::move(plugins)),
      counters_(counters),
      awaiting_setup_(std::move(awaiting_setup)) {
  for (auto const& p : plugins_) {
    if (p->module().has_hook(&posthog_plugin_vtable::process_event))
      process_event_.push_back({p.get(), !p->module().has(POSTHOG_CAP_PROCESS_EVENT_NOEXCEPT)});
    if (p->module().has_hook(&posthog_plugin_vtable::on_event)) on_event_.push_back(p.get());
    if (p->exports()) exporters_.push_back(p.get());
    if (p->module().has_hook(&posthog_plugin_vtable::on_event) || p->exports()) run_later_.push_back(p.get());
  }
}

bool PluginChain::process(boost::json::object& event, ChainScratch& scratch, PluginLog& log,
                          ChainStats& stats) const {
  scratch.outcome_of = nullptr;
  if (plugins_.empty() && awaiting_setup_.empty()) return true;
  scratch.succeeded.clear();
  scratch.failed.clear();
  scratch.skipped.clear();
  if (!process_event_.empty()) {
    // What a hook that never returns was working on (health/call_watchdog.hpp).
    subject_of(event, scratch.subject);
    HookCalls::set_subject(scratch.subject, scratch.position);
  }
  for (auto const& [plugin, may_fail] : process_event_) {
    if (!plugin->runnable() && !plugin->crashed_on_subject("process_event")) {  // paused or disabled: as if not installed
      scratch.skipped.push_back(plugin);
      continue;
    }
    bool dropped = false;
    {
      // The snapshot lives in the arena and is copied back only on failure. It
      // must be gone before the arena is released, hence this scope. A plugin
      // whose process_event is noexcept cannot fail, so it gets none.
      std::optional<boost::json::object> before;
      if (may_fail) before.emplace(event, scratch.arena.storage());
      posthog_error error;
      error.kind[0] = error.message[0] = '\0';
      PluginTimings* timed = scratch.timings ? &scratch.timings[plugin->metrics_slot()] : nullptr;
      std::chrono::nanoseconds took{0};
      auto const status = plugin->process_event(event, error, timed ? &took : nullptr);
      if (timed) {
        timed->observe(took);
        timed->calls.add();
        if (status == POSTHOG_DROP) timed->dropped.add();
        else if (status != POSTHOG_OK) timed->errors.add();
      }
      if (status == POSTHOG_DROP) {
        ++stats.dropped;
        dropped = true;
      } else if (status != POSTHOG_OK) {
        ++stats.plugin_errors;
        scratch.failed.push_back(plugin);
        record(log, *plugin, "process_event", error, before ? *before : event);
        if (before) event = *before;
      } else if (auto const* t = event.if_contains("team_id"); !t || !t->is_int64() || t->get_int64() != team_id_) {
        ++stats.illegal_team_changes;
        scratch.failed.push_back(plugin);
        posthog_error illegal{};
        std::snprintf(illegal.kind, sizeof illegal.kind, "IllegalOperationError");
        std::snprintf(illegal.message, sizeof illegal.message,
                      "process_event changed team_id (to %s); plugins cannot change team_id, the change was undone",
                      t ? boost::json::serialize(*t).c_str() : "nothing");
        record(log, *plugin, "process_event", illegal, event);
        event["team_id"] = team_id_;
      } else {
        scratch.succeeded.push_back(plugin);
      }
    }
    if (may_fail) scratch.arena.reset();
    if (dropped) return false;
  }
  scratch.outcome_of = this;
  return true;
}

template <class Visit>
void PluginChain::visit_outcome(const ChainScratch& scratch, Visit&& visit) const {
  for (const TeamPlugin* p : scratch.succeeded) visit(0, p->name());
  for (const TeamPlugin* p : scratch.failed) visit(1, p->name());
  for (const TeamPlugin* p : scratch.skipped) visit(2, p->name());
  for (const TeamPlugin* p : run_later_)
    if (std::find(scratch.skipped.begin(), scratch.skipped.end(), p) == scratch.skipped.end()) visit(2, p->name());
  for (auto const& name : awaiting_setup_) visit(2, name);
}

void PluginChain::write_outcome(JsonBuffer& out, const ChainScratch& scratch) const {
  char suffix[32] = " (";
  auto const end = std::to_chars(suffix + 2, suffix + sizeof suffix - 1, team_id_).ptr;
  *end = ')';
  std::string_view const tail(suffix, static_cast<std::size_t>(end + 1 - suffix));
  thread_local std::string id;
  int open = -1;
  bool first = true;
  auto put = [&](std::string_view text) { std::memcpy(out.reserve(text.size()), text.data(), text.size()), out.commit(text.size()); };
  auto open_through = [&](int list) {
    for (; open < list; first = true) {
      if (open >= 0) put("],");
      ++open;
      put("\"");
      put(outcome_keys[open]);
      put("\":[");
    }
  };
  visit_outcome(scratch, [&](int list, std::string_view name) {
    open_through(list);
    if (!first) put(",");
    first = false;
    id.assign(name).append(tail);
    append_json_string(out, id);
  });
  open_through(2);
  put("]");
}

void PluginChain::record_outcome(boost::json::object& event, const ChainScratch& scratch) const {
  boost::json::value* props = event.if_contains("properties");
  if (!props) props = &(event["properties"] = boost::json::object(event.storage()));
  if (!props->is_object()) return;  // normalisation makes it an object; a plugin may have broken it
  auto const storage = event.storage();
  auto const suffix = " (" + std::to_string(team_id_) + ")";
  boost::json::array lists[3] = {boost::json::array(storage), boost::json::array(storage),
                                 boost::json::array(storage)};
  visit_outcome(scratch, [&](int list, std::string_view name) {
    auto& id = lists[list].emplace_back(boost::json::string(storage)).get_string();
    id.append(name).append(suffix);
  });
  auto& properties = props->get_object();
  for (int i = 0; i < 3; ++i) properties[outcome_keys[i]] = std::move(lists[i]);
}

void PluginChain::on_event(const boost::json::object& event, PluginLog& log, ChainStats& stats,
                           PluginTimings* timings) const {
  thread_local std::string subject;
  subject_of(event, subject);
  HookCalls::set_subject(subject);
  for (const TeamPlugin* plugin : on_event_) {
    if (!plugin->runnable() && !plugin->crashed_on_subject("on_event")) continue;  // paused or disabled: never run
    posthog_error error;
    error.kind[0] = error.message[0] = '\0';
    PluginTimings* timed = timings ? &timings[plugin->metrics_slot()] : nullptr;
    if (timed) timed->on_event_calls.add();
    if (plugin->on_event(event, error) != POSTHOG_OK) {
      if (timed) timed->on_event_errors.add();
      ++stats.plugin_errors;
      record(log, *plugin, "on_event", error, event);
    }
  }
}

}  // namespace posthog::server
