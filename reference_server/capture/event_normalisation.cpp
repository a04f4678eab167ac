#include "event_normalisation.hpp"

#include <posthog/timestamp.hpp>

#include "common/event_ids.hpp"

namespace posthog::server {
namespace {

std::string_view string_member(const boost::json::object& o, std::string_view key) {
  auto const* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// PostHog's timestamp rule (plugin-server's parseEventTimestamp).
// Times stay milliseconds since the epoch (int64) throughout: a time_point
// counts nanoseconds and overflows outside 1678-2262. A result that four year
// digits cannot say is invalid, and then, as in PostHog, the event gets `now`.
IsoTimestamp corrected_timestamp(const boost::json::object& e, std::optional<std::int64_t> sent_at_ms,
                                 std::int64_t now_ms) {
  auto valid_or_now = [&](std::int64_t ms) { return iso8601_text(in_iso8601_range(ms) ? ms : now_ms); };
  auto const ts = posthog::iso8601_millis(string_member(e, "timestamp"));
  if (ts && sent_at_ms) return valid_or_now(now_ms + (*ts - *sent_at_ms));
  if (ts) return valid_or_now(*ts);
  if (auto const* offset = e.if_contains("offset"); offset && offset->is_number()) {
    double const back = offset->to_number<double>();
    if (back > -1e15 && back < 1e15) return valid_or_now(now_ms - static_cast<std::int64_t>(back));
  }
  return iso8601_text(now_ms);
}

}  // namespace

void normalise_event(boost::json::object& e, std::int64_t team_id, const LogRecordView& record,
                     std::string_view distinct_id, std::string_view assigned_uuid) {
  auto event_sent_at = record.sent_at_ms();
  if (!event_sent_at) event_sent_at = posthog::iso8601_millis(string_member(e, "sent_at"));
  if (!event_sent_at) event_sent_at = record.query_sent_at_ms();
  auto const timestamp = corrected_timestamp(e, event_sent_at, record.now_ms());
  e.reserve(e.size() + 9);  // the fields below, without a rehash on the way
  if (!assigned_uuid.empty()) e["uuid"] = assigned_uuid;
  for (auto key : {"$distinct_id", "api_key", "$token", "offset"}) e.erase(key);
  if (auto const* d = e.if_contains("distinct_id"); !d || !d->is_string() || d->get_string() != distinct_id)
    e["distinct_id"] = distinct_id;  // a number, or too long: now the string PostHog would store
  e["team_id"] = team_id;
  e["ip"] = record.ip();
  e["site_url"] = record.site_url();
  e["now"] = iso8601_text(record.now_ms()).view();
  if (!event_sent_at) e.erase("sent_at");
  else e["sent_at"] = iso8601_text(*event_sent_at).view();
  e["timestamp"] = timestamp.view();
  e["token"] = record.token();
  if (auto const* p = e.if_contains("properties"); !p || !p->is_object()) e["properties"] = boost::json::object();
}

}  // namespace posthog::server
