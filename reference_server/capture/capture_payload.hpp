// The events of a capture request: PostHog's payload shapes read, the project
// token resolved to a team, each event checked and normalised as PostHog's
// capture did.
//
// Shapes: a single event; a JSON array of events; {"api_key" | "token",
// "batch": [...], "sent_at"}. The token comes from the batch (api_key, token),
// else from each event (token, $token, api_key, properties.token); two
// different tokens in one request, none, a malformed one or an unknown one is
// a 401. A bad event inside a batch is rejected on its own (reported with its
// index), not the batch; a request whose events are all bad is a 400.
//
// Normalisation: uuid (the client's when it is a UUID, else a new UUIDv7),
// distinct_id (top level, $distinct_id or properties.distinct_id; numbers as
// text; at most 200 characters), ip (the address the HTTP layer trusts), now,
// sent_at (the body's, else the `_` query parameter in ms), timestamp corrected
// for the client's clock skew (now + (timestamp − sent_at); a timestamp alone is
// kept; `offset` ms alone gives now − offset; else now), site_url, team_id.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture_error.hpp"
#include "payload_scan.hpp"

namespace posthog::server {

struct CaptureContext {
  std::string ip;        // the client's address, after trusted-proxy handling
  std::string site_url;  // scheme://host the request was sent to
  std::string_view query;
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
  PayloadLimits limits;  // events per request, nesting
};

struct RejectedEvent {
  std::size_t index;
  std::string message;
};

struct CapturedEvents {
  std::int64_t team_id = 0;
  std::vector<boost::json::object> events;  // normalised, in request order
  std::vector<RejectedEvent> rejected;
};

using TokenResolver = std::function<std::optional<std::int64_t>(std::string_view token)>;

// The body is scanned first (payload_scan.hpp): its limits hold before any
// value is allocated, and its parse may take at most `parse_budget_factor`
// times its text (plus 1 MiB) in memory. An event holding a number it would
// change (beyond 64 bits, beyond a double) is rejected alone.
//
// Throws CaptureError (400 malformed or too deep JSON with its line and
// column, no events, every event bad; 401 token problems; 413 too many events,
// or a parse over its memory budget).
constexpr std::size_t parse_budget_factor = 5;
CapturedEvents read_capture_payload(std::string_view json, const CaptureContext& context,
                                    const TokenResolver& resolve_token);

}  // namespace posthog::server
