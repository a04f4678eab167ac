// The events of a capture request, made into event log records without
// parsing them: PostHog's payload shapes read, the project token resolved to
// a team, each event checked as PostHog's capture checked it, and grouped by
// partition (a record per partition the request touches, and per
// `max_record_events` of one partition).
//
// Shapes: a single event; a JSON array of events; {"api_key" | "token",
// "batch": [...], "sent_at"}. The token comes from the batch (api_key, token),
// else from each event (token, $token, api_key, properties.token); two
// different tokens in one request, none, a malformed one or an unknown one is
// a 401. A bad event inside a batch is rejected on its own (reported with its
// index), not the batch; a request whose events are all bad is a 400.
//
// Checked per event: a JSON object, a name ("event", a non-empty string), a
// distinct_id (top level, $distinct_id or properties.distinct_id; numbers
// taken as their text; at most 200 characters, cut on a character boundary),
// no number the event type would change (payload_scan.hpp), and a parse that
// costs at most `parse_budget_factor` times its text plus 4 KiB (16 bytes a
// value, 32 more a member: JSON of tiny values is refused here, before it is
// acknowledged, rather than in the worker that would have to parse it). A uuid is assigned
// where the client's is not a UUID. The rest of PostHog's normalisation is the
// worker's, after its parse (event_normalisation.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "log/event_log.hpp"
#include "capture_error.hpp"
#include "payload_scan.hpp"

namespace posthog::server {

struct CaptureContext {
  std::string ip;        // the client's address, after trusted-proxy handling
  std::string site_url;  // scheme://host the request was sent to
  std::string_view query;
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
  PayloadLimits limits;  // events per request, nesting
  std::size_t partitions = 1;  // of the event log
};

struct RejectedEvent {
  std::size_t index;
  std::string message;
};

struct CapturedRequest {
  std::int64_t team_id = 0;
  std::vector<LogAppend> records;  // per partition, in request order within each
  std::size_t events = 0;          // taken
  std::vector<RejectedEvent> rejected;
};

using TokenResolver = std::function<std::optional<std::int64_t>(std::string_view token)>;

constexpr std::size_t parse_budget_factor = 5;
constexpr std::uint32_t max_record_events = 500;  // a log record's, at most
constexpr std::size_t max_distinct_id_bytes = 200;

// Throws CaptureError (400 malformed or too deep JSON with its line and
// column, no events, every event bad; 401 token problems; 413 too many events).
CapturedRequest read_capture_payload(std::string_view json, const CaptureContext& context,
                                     const TokenResolver& resolve_token);

}  // namespace posthog::server
