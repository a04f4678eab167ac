#include "event_log.hpp"

#include <future>

namespace posthog::server {

void EventLog::append(std::span<LogAppend> records) {
  std::promise<std::string> made_durable;
  auto outcome = made_durable.get_future();
  append(records, [&made_durable](std::string_view failure) { made_durable.set_value(std::string(failure)); });
  if (auto const failure = outcome.get(); !failure.empty()) throw LogUnavailable(failure);
}

}  // namespace posthog::server
