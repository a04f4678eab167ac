// Identifiers and timestamps the server stamps on events it creates or
// normalises: UUIDv7 (time-ordered, as PostHog's capture generates) and ISO 8601
// UTC timestamps with milliseconds, as PostHog writes them.
#pragma once

#include <chrono>
#include <string>

namespace posthog::server {

std::string make_uuid_v7(std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
std::string iso8601(std::chrono::system_clock::time_point t);

}  // namespace posthog::server
