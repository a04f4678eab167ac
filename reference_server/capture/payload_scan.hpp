// PayloadScan: one pass over a capture body's JSON text that checks it and
// finds its events before a single JSON value is allocated.
//
// What a parse would only discover by building values, and so by spending
// memory and CPU in proportion to whatever a client sends, is decided here in
// one linear pass with no allocation per value:
//   - the text is JSON (RFC 8259, UTF-8 and escapes included), else 400 with
//     the line and column;
//   - nothing is nested deeper than `max_depth` (a `[[[[...` bomb stops at the
//     limit, at once);
//   - the request carries at most `max_events` events, else 413 naming the
//     limit (PostHog's clients halve a batch on 413 and send it again);
//   - every number is one the event type keeps exactly enough: an integer
//     beyond 64 bits or a number beyond a double's range (`1e400`) would change
//     value silently, so the event holding it is marked and capture rejects it
//     alone, naming the number.
//
//   auto scan = scan_payload(R"({"api_key": "phc_x", "batch": [{...}, {...}]})", {});
//   scan.shape == PayloadShape::batch; scan.events.size() == 2;
//   std::string_view first = text.substr(scan.events[0].begin, scan.events[0].size());
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace posthog::server {

struct PayloadLimits {
  std::size_t max_events = 10'000;  // per request
  unsigned max_depth = 128;         // containers inside containers
};

enum class PayloadShape {
  single_event,  // {"event": ...}
  event_array,   // [{...}, {...}]
  batch,         // {"api_key": ..., "batch": [...], "sent_at": ...}
};

struct ScannedEvent {
  std::size_t begin = 0, end = 0;  // the element's text, [begin, end) of the body
  // Why the event cannot be kept as sent (a number it would change), or empty.
  std::string problem;
  std::size_t size() const noexcept { return end - begin; }
};

struct PayloadScan {
  PayloadShape shape = PayloadShape::single_event;
  std::vector<ScannedEvent> events;  // in request order; elements of any JSON type
};

// Throws CaptureError: 400 (not JSON, too deep, not an event, array or batch;
// "batch" not an array or given twice), 413 (more than max_events events).
PayloadScan scan_payload(std::string_view json, const PayloadLimits& limits);

// "line L, column C" (1-based) of a byte offset: what error messages quote.
std::string text_position(std::string_view text, std::size_t offset);

}  // namespace posthog::server
