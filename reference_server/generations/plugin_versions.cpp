#include "plugin_versions.hpp"

#include <boost/json/object.hpp>

namespace posthog::server {

namespace {

std::int64_t ms_since_epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

boost::json::object module_json(const PluginModule& m) {
  return {{"version", m.version()},
          {"file", m.file()},
          {"content_hash", m.content_hash()},
          {"loaded_at_ms", ms_since_epoch(m.loaded_at())}};
}

}  // namespace

std::shared_ptr<PluginModule> PluginVersions::serving(const std::string& plugin, std::shared_ptr<PluginModule> module,
                                                      std::uint64_t generation, double drain_ms,
                                                      std::string_view trigger) {
  std::lock_guard lock(mutex_);
  auto& e = entries_[plugin];
  e.history.push_front({module->version(), module->content_hash(), module->file(), std::string(trigger), generation,
                        drain_ms, std::chrono::system_clock::now()});
  if (e.history.size() > kept_versions) e.history.pop_back();
  auto replaced = e.serving;
  if (replaced) {
    e.previous = replaced;
    ++e.swaps;
    ++swaps_;
  }
  e.serving = std::move(module);
  e.generation = generation;
  e.since = std::chrono::system_clock::now();
  e.last_drain_ms = drain_ms;
  return replaced;
}

void PluginVersions::refused(SwapAttempt attempt) {
  std::lock_guard lock(mutex_);
  ++refusals_by_step_[attempt.step];
  auto& failed = entries_[attempt.plugin].failed;
  failed.push_front(std::move(attempt));
  if (failed.size() > kept_failures) failed.pop_back();
}

std::shared_ptr<PluginModule> PluginVersions::current(const std::string& plugin) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(plugin);
  return it == entries_.end() ? nullptr : it->second.serving;
}

std::shared_ptr<PluginModule> PluginVersions::previous(const std::string& plugin) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(plugin);
  return it == entries_.end() ? nullptr : it->second.previous;
}

std::uint64_t PluginVersions::swaps() const {
  std::lock_guard lock(mutex_);
  return swaps_;
}

std::uint64_t PluginVersions::refusals() const {
  std::lock_guard lock(mutex_);
  std::uint64_t n = 0;
  for (auto const& [step, count] : refusals_by_step_) n += count;
  return n;
}

std::map<std::string, std::uint64_t> PluginVersions::refusals_by_step() const {
  std::lock_guard lock(mutex_);
  return refusals_by_step_;
}

boost::json::object PluginVersions::entry_json(const std::string& plugin, const Entry& e) const {
  boost::json::object o{{"plugin", plugin}, {"swaps", e.swaps}};
  if (e.serving) {
    auto serving = module_json(*e.serving);
    serving["generation"] = e.generation;
    serving["since_ms"] = ms_since_epoch(e.since);
    serving["drain_ms"] = e.last_drain_ms;
    o["serving"] = std::move(serving);
  } else {
    o["serving"] = nullptr;
  }
  o["previous"] = e.previous ? boost::json::value(module_json(*e.previous)) : boost::json::value(nullptr);
  boost::json::array history;
  for (auto const& v : e.history)
    history.push_back({{"version", v.version},       {"content_hash", v.content_hash}, {"file", v.file},
                       {"trigger", v.trigger},       {"generation", v.generation},     {"drain_ms", v.drain_ms},
                       {"at_ms", ms_since_epoch(v.at)}});
  o["history"] = std::move(history);
  boost::json::array failed;
  for (auto const& a : e.failed) {
    boost::json::object f{{"file", a.file},       {"trigger", a.trigger},
                          {"step", a.step},       {"message", a.message},
                          {"at_ms", ms_since_epoch(a.at)}};
    if (!a.field.empty()) f["field"] = a.field;
    if (a.team_id) f["team_id"] = *a.team_id;
    if (!a.content_hash.empty()) f["content_hash"] = a.content_hash;
    failed.push_back(std::move(f));
  }
  o["failed"] = std::move(failed);
  return o;
}

boost::json::array PluginVersions::to_json() const {
  std::lock_guard lock(mutex_);
  boost::json::array out;
  for (auto const& [plugin, e] : entries_) out.push_back(entry_json(plugin, e));
  return out;
}

boost::json::object PluginVersions::to_json(const std::string& plugin) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(plugin);
  if (it == entries_.end()) return {};
  return entry_json(plugin, it->second);
}

}  // namespace posthog::server
