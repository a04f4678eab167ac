// Serialising events as JSON lines without a temporary string per event.
#pragma once

#include <boost/json/object.hpp>
#include <string>

namespace posthog::server {

// Appends the object's JSON text and a newline to `out`.
void append_json_line(std::string& out, const boost::json::object& object);

}  // namespace posthog::server
