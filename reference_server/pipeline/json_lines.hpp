// Serialising events as JSON lines, numbers written as PostHog's JavaScript wrote them.
//
// Boost.JSON 1.81 prints doubles in scientific form (58.4167 becomes 5.84167E1):
// valid JSON, but not what a PostHog user expects to read in $geoip_latitude or a
// price. This writer prints the shortest text that reads back to the same double
// (std::to_chars), so 58.4167 stays 58.4167 and 3.0 becomes 3, as JSON.stringify
// does; everything else is standard JSON with UTF-8 passed through. It appends
// into the caller's buffer, so a batch of events costs no temporary string each.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>

namespace posthog::server {

// Appends the value's JSON text to `out`.
void append_json(std::string& out, const boost::json::value& value);
// Appends the object's JSON text and a newline to `out`.
void append_json_line(std::string& out, const boost::json::object& object);

}  // namespace posthog::server
