// Diagnostics as JSON lines on a descriptor (stderr): load errors, plugin logs
// and plugin errors, the same shapes in process and serve mode.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "common/load_error.hpp"
#include "sinks/fd_writer.hpp"
#include "common/plugin_log.hpp"

namespace posthog::server {

std::string diagnostic_line(const boost::json::object& o);
void report_load_errors(FdWriter& out, const std::vector<LoadError>& refusals);
// Writes every plugin log line and error as it happens; `out` must outlive `log`'s use.
void stream_plugin_log(PluginLog& log, FdWriter& out);
// The lines stream_plugin_log writes.
std::string plugin_log_line(const PluginLogLine& line);
std::string plugin_error_line(const PluginErrorRecord& error);

}  // namespace posthog::server
