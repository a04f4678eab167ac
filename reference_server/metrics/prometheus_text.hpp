// Pieces of the Prometheus text format (version 0.0.4) shared by everything
// that renders /metrics.
#pragma once

#include <string>
#include <string_view>

namespace posthog::server {

// The shortest text that reads back as the same double: 5e-06, 0.1, 1234.
void append_number(std::string& out, double v);
// A label value, escaped (backslash, quote and newline, the format's rule).
void append_label(std::string& out, std::string_view value);
// The # HELP and # TYPE lines of a metric.
void prometheus_header(std::string& out, const char* name, const char* type, const char* help);
// One sample without labels, with its HELP and TYPE lines.
void prometheus_sample(std::string& out, const char* name, const char* type, const char* help, double value);

}  // namespace posthog::server
