#include "plugin_log.hpp"

namespace posthog::server {

void PluginLog::observe(LineObserver lines, ErrorObserver errors) {
  std::lock_guard lock(mutex_);
  line_observer_ = std::move(lines);
  error_observer_ = std::move(errors);
}

void PluginLog::log(PluginLogLine line) {
  if (line.at == std::chrono::system_clock::time_point{}) line.at = std::chrono::system_clock::now();
  std::lock_guard lock(mutex_);
  if (line_observer_) line_observer_(line);
  auto& q = lines_[{line.team_id, line.plugin}];
  q.push_back(std::move(line));
  if (q.size() > keep_) q.pop_front();
}

void PluginLog::error(PluginErrorRecord record) {
  if (record.at == std::chrono::system_clock::time_point{}) record.at = std::chrono::system_clock::now();
  std::lock_guard lock(mutex_);
  ++error_count_;
  if (error_observer_) error_observer_(record);
  auto& q = errors_[{record.team_id, record.plugin}];
  q.push_back(std::move(record));
  if (q.size() > keep_) q.pop_front();
}

std::vector<PluginLogLine> PluginLog::lines(std::int64_t team_id, const std::string& plugin) const {
  std::lock_guard lock(mutex_);
  auto it = lines_.find({team_id, plugin});
  return it == lines_.end() ? std::vector<PluginLogLine>{} : std::vector<PluginLogLine>(it->second.begin(), it->second.end());
}

std::vector<PluginErrorRecord> PluginLog::errors(std::int64_t team_id, const std::string& plugin) const {
  std::lock_guard lock(mutex_);
  auto it = errors_.find({team_id, plugin});
  return it == errors_.end() ? std::vector<PluginErrorRecord>{}
                             : std::vector<PluginErrorRecord>(it->second.begin(), it->second.end());
}

std::uint64_t PluginLog::error_count() const {
  std::lock_guard lock(mutex_);
  return error_count_;
}

}  // namespace posthog::server
