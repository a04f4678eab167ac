// PluginLog: what plugins said (`meta.logger`) and how they failed, per
// (team, plugin), each error with the event that caused it, as PostHog's plugin
// server stored them on the plugin config.
//
// Keeps the most recent entries in memory (bounded per (team, plugin)) and
// forwards every entry to an optional observer: process mode prints them as
// JSON lines on stderr; serve mode will also persist them.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace posthog::server {

struct PluginLogLine {
  std::int64_t team_id = 0;
  std::string plugin;
  int level = 1;  // POSTHOG_LOG_*
  std::string message;
  std::chrono::system_clock::time_point at;
};

struct PluginErrorRecord {
  std::int64_t team_id = 0;
  std::string plugin;
  std::string hook;  // process_event, on_event, setup_team, ...
  std::string kind;  // exception type
  std::string message;
  std::string event_uuid;
  std::string event_json;  // the event as the failing hook received it (may be empty)
  std::chrono::system_clock::time_point at;
};

class PluginLog {
 public:
  explicit PluginLog(std::size_t keep_per_plugin = 200) : keep_(keep_per_plugin) {}

  using LineObserver = std::function<void(const PluginLogLine&)>;
  using ErrorObserver = std::function<void(const PluginErrorRecord&)>;
  void observe(LineObserver lines, ErrorObserver errors);

  void log(PluginLogLine line);
  void error(PluginErrorRecord record);

  std::vector<PluginLogLine> lines(std::int64_t team_id, const std::string& plugin) const;
  std::vector<PluginErrorRecord> errors(std::int64_t team_id, const std::string& plugin) const;
  std::uint64_t error_count() const;

 private:
  using Key = std::pair<std::int64_t, std::string>;
  std::size_t keep_;
  mutable std::mutex mutex_;
  std::map<Key, std::deque<PluginLogLine>> lines_;
  std::map<Key, std::deque<PluginErrorRecord>> errors_;
  std::uint64_t error_count_ = 0;
  LineObserver line_observer_;
  ErrorObserver error_observer_;
};

}  // namespace posthog::server
