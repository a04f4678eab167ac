#include "json_lines.hpp"

#include <boost/json/serializer.hpp>

namespace posthog::server {

void append_json_line(std::string& out, const boost::json::object& object) {
  thread_local boost::json::serializer serializer;
  serializer.reset(&object);
  char chunk[8192];
  while (!serializer.done()) out.append(serializer.read(chunk, sizeof chunk));
  out.push_back('\n');
}

}  // namespace posthog::server
