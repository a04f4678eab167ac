// route_key: find one top-level member of a JSON object without parsing it.
//
// Process mode's reader thread must send each line to the worker that owns its
// person (so one person's events keep their order) before anyone has parsed the
// line: parsing is the expensive part and belongs in the workers. This scanner
// walks only the top level of the object, skipping nested values by counting
// brackets outside strings, and returns the raw bytes of the member's value
// (a string's contents still escaped, or a number's digits). It never validates
// more than it needs: a malformed line yields nullopt and the worker that parses
// it reports the precise error.
//
//   top_level_value(R"({"event":"x","distinct_id":"u1"})", "distinct_id") == "u1"
#pragma once

#include <optional>
#include <string_view>

namespace posthog::server {

std::optional<std::string_view> top_level_value(std::string_view json, std::string_view key) noexcept;

}  // namespace posthog::server
