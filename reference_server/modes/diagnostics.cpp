#include "diagnostics.hpp"

#include "common/json_lines.hpp"

namespace posthog::server {
namespace {

const char* level_name(int level) {
  switch (level) {
    case 0: return "debug";
    case 1: return "info";
    case 2: return "warn";
    default: return "error";
  }
}

}  // namespace

std::string diagnostic_line(const boost::json::object& o) {
  std::string s;
  append_json_line(s, o);
  return s;
}

void report_load_errors(FdWriter& out, const std::vector<LoadError>& refusals) {
  for (auto const& r : refusals) {
    boost::json::array details;
    for (auto const& d : r.details()) details.emplace_back(d);
    out.write(diagnostic_line({{"type", "load_error"}, {"file", r.file()}, {"step", to_string(r.step())},
                               {"field", r.field()}, {"details", std::move(details)}}));
  }
}

std::string plugin_log_line(const PluginLogLine& l) {
  return diagnostic_line({{"type", "plugin_log"}, {"team_id", l.team_id}, {"plugin", l.plugin},
                          {"level", level_name(l.level)}, {"message", l.message}});
}

std::string plugin_error_line(const PluginErrorRecord& e) {
  return diagnostic_line({{"type", "plugin_error"}, {"plugin", e.plugin}, {"team_id", e.team_id},
                          {"event_uuid", e.event_uuid}, {"hook", e.hook}, {"kind", e.kind}, {"message", e.message}});
}

void stream_plugin_log(PluginLog& log, FdWriter& out) {
  log.observe([&out](const PluginLogLine& l) { out.write(plugin_log_line(l)); },
              [&out](const PluginErrorRecord& e) { out.write(plugin_error_line(e)); });
}

}  // namespace posthog::server
