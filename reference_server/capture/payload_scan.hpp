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
// On the way it reads what capture needs of each event without parsing it
// (EventFields: its name, distinct_id, uuid and tokens, as raw JSON text) and
// counts its values, which is what parsing it will cost.
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

// One member's value as it is in the text. When a key appears twice, the
// last one counts, as in the parse.
struct JsonValueRef {
  enum class Kind : std::uint8_t { absent, string, number, null, other };
  Kind kind = Kind::absent;
  std::string_view raw;  // a string's text between its quotes, escapes as sent; a number's text
  bool escaped = false;  // a string with an escape in it: json_unescape(raw) for its value

  bool is_string() const noexcept { return kind == Kind::string; }
  std::string text() const;  // a string's value (unescaped), or a number's text
};

// What capture reads of an event (top-level members, and two inside
// "properties") to check it, route it and resolve its team.
struct EventFields {
  bool object = false;
  JsonValueRef event, distinct_id, dollar_distinct_id, uuid, token, dollar_token, api_key;
  JsonValueRef properties_distinct_id, properties_token;
  std::size_t values = 0;   // JSON values inside the event, itself included
  std::size_t members = 0;  // object members among them (a key and its place in the object, beside the value)
};

struct ScannedEvent {
  std::size_t begin = 0, end = 0;  // the element's text, [begin, end) of the body
  // Why the event cannot be kept as sent (a number it would change), or empty.
  std::string problem;
  EventFields fields;
  std::size_t size() const noexcept { return end - begin; }
};

struct PayloadScan {
  PayloadShape shape = PayloadShape::single_event;
  std::vector<ScannedEvent> events;  // in request order; elements of any JSON type
  JsonValueRef api_key, token, sent_at;  // the root object's own (a batch's)
};

// A JSON string's text (between its quotes) as UTF-8. The scan has checked
// its escapes, so this only converts.
std::string json_unescape(std::string_view raw);

// Throws CaptureError: 400 (not JSON, too deep, not an event, array or batch;
// "batch" not an array or given twice), 413 (more than max_events events).
PayloadScan scan_payload(std::string_view json, const PayloadLimits& limits);

// "line L, column C" (1-based) of a byte offset: what error messages quote.
std::string text_position(std::string_view text, std::size_t offset);

}  // namespace posthog::server
