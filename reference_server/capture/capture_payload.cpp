#include "capture_payload.hpp"

#include <posthog/timestamp.hpp>

#include <charconv>
#include <map>

#include "config/team_rules.hpp"
#include "log/log_record.hpp"
#include "log/partitioner.hpp"
#include "common/event_ids.hpp"
#include "body_decoder.hpp"

namespace posthog::server {
namespace {

using Kind = JsonValueRef::Kind;

// A member that is a non-empty string, as text.
std::string string_value(const JsonValueRef& v) { return v.is_string() && !v.raw.empty() ? v.text() : std::string(); }

// The event's own token, PostHog's order.
std::string event_token(const EventFields& f) {
  for (auto const* v : {&f.token, &f.dollar_token, &f.api_key, &f.properties_token})
    if (auto t = string_value(*v); !t.empty()) return t;
  return {};
}

void check_token_shape(std::string_view token) {
  if (auto why = project_token_problem(token)) throw CaptureError(401, "invalid_token", *why);
}

bool is_uuid(std::string_view s) noexcept {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < 36; ++i) {
    char const c = s[i];
    bool const dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

// distinct_id as text (PostHog's order: distinct_id, then $distinct_id, then
// properties.distinct_id, each when present and not null), or empty when the
// event has none that is a string or a number.
std::string distinct_id_of(const EventFields& f) {
  const JsonValueRef* v = &f.distinct_id;
  if (v->kind == Kind::absent || v->kind == Kind::null) v = &f.dollar_distinct_id;
  if (v->kind == Kind::absent || v->kind == Kind::null) v = &f.properties_distinct_id;
  if (v->kind != Kind::string && v->kind != Kind::number) return {};
  std::string id = v->text();
  if (id.size() > max_distinct_id_bytes) {
    std::size_t cut = max_distinct_id_bytes;  // on a UTF-8 character boundary
    while (cut > 0 && (static_cast<unsigned char>(id[cut]) & 0xc0) == 0x80) --cut;
    id.resize(cut);
  }
  return id;
}

std::optional<std::int64_t> query_millis(std::string_view query) {
  auto const text = form_value(query, "_");
  std::int64_t ms = 0;
  auto const r = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) return std::nullopt;
  return ms;
}

}  // namespace

CapturedRequest read_capture_payload(std::string_view json, const CaptureContext& context,
                                     const TokenResolver& resolve_token) {
  // One pass over the text: nothing is allocated per value, nothing parsed.
  auto const scan = scan_payload(json, context.limits);
  if (scan.events.empty()) throw CaptureError(400, "no_events", "the request has no events");

  // One project per request.
  bool const batch = scan.shape == PayloadShape::batch;
  std::string token = batch ? string_value(scan.api_key) : std::string();
  if (batch && token.empty()) token = string_value(scan.token);
  if (token.empty()) {
    for (auto const& e : scan.events) {
      if (!e.fields.object) continue;
      auto const t = event_token(e.fields);
      if (t.empty()) continue;
      if (token.empty()) token = t;
      else if (t != token) throw CaptureError(401, "invalid_token", "the request mixes events of different project tokens");
    }
  }
  if (token.empty())
    throw CaptureError(401, "missing_token",
                       "no project token: send it as api_key (or token) with the batch, or in each event");
  check_token_shape(token);
  auto const team = resolve_token(token);
  if (!team) throw CaptureError(401, "invalid_token", "unknown project token '" + token + "'");

  CaptureStamp stamp;
  stamp.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(context.now.time_since_epoch()).count();
  if (batch && scan.sent_at.is_string()) stamp.sent_at_ms = posthog::iso8601_millis(scan.sent_at.text());
  stamp.query_sent_at_ms = query_millis(context.query);
  stamp.ip = context.ip;
  stamp.site_url = context.site_url;
  stamp.token = token;

  CapturedRequest out;
  out.team_id = *team;
  // One record per partition, cut every `max_record_events` so that what a
  // worker parses at once stays small whatever a request holds (records of
  // one partition follow each other in the log: the order is kept).
  std::map<std::size_t, LogRecordWriter> by_partition;
  auto cut = [&](std::size_t partition, LogRecordWriter& writer) {
    auto const events = writer.events();
    out.records.push_back({partition, writer.finish(), events});
  };
  for (std::size_t i = 0; i < scan.events.size(); ++i) {
    auto const& e = scan.events[i];
    auto reject = [&](std::string why) { out.rejected.push_back({i, std::move(why)}); };
    if (!e.problem.empty()) {
      reject(e.problem);
      continue;
    }
    auto const& f = e.fields;
    if (!f.object) {
      reject("an event must be a JSON object");
      continue;
    }
    if (!f.event.is_string() || f.event.raw.empty()) {
      reject("the event has no name (\"event\")");
      continue;
    }
    auto const distinct_id = distinct_id_of(f);
    if (distinct_id.empty()) {
      reject("the event has no distinct_id");
      continue;
    }
    // What the worker's parse will take at least: 16 bytes a value, and a
    // member's key and slot in its object beside it (Boost.JSON's layout).
    if (f.values * 16 + f.members * 32 > parse_budget_factor * e.size() + (4 << 10)) {
      reject("the event holds " + std::to_string(f.values) + " JSON values in " + std::to_string(e.size()) +
             " bytes: too many tiny values to parse within " + std::to_string(parse_budget_factor) +
             " times its size");
      continue;
    }
    // A UUID has no escapes to undo: its raw text is its value.
    bool const assign = !f.uuid.is_string() || f.uuid.escaped || !is_uuid(f.uuid.raw);
    UuidText assigned{};
    if (assign) assigned = uuid_v7_text(context.now);
    auto const partition = partition_of(out.team_id, distinct_id, context.partitions);
    auto it = by_partition.find(partition);
    if (it == by_partition.end())
      it = by_partition.emplace(partition, LogRecordWriter(RecordKind::capture, out.team_id, 0, stamp)).first;
    it->second.add(json.substr(e.begin, e.size()), distinct_id, assign ? assigned.view() : std::string_view());
    if (it->second.events() == max_record_events) {
      cut(partition, it->second);
      by_partition.erase(it);
    }
    ++out.events;
  }
  if (out.events == 0) {
    std::string why = out.rejected.size() == 1 ? out.rejected[0].message : "every event in the request is invalid";
    if (scan.events.size() > 1)
      why += " (first: event " + std::to_string(out.rejected[0].index) + ": " + out.rejected[0].message + ")";
    throw CaptureError(400, "invalid_event", why);
  }
  for (auto& [partition, writer] : by_partition) cut(partition, writer);
  return out;
}

}  // namespace posthog::server
