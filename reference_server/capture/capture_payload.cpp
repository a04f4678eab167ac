#include "capture_payload.hpp"

#include <posthog/timestamp.hpp>

#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstdio>

#include "../config/team_rules.hpp"
#include "../pipeline/event_ids.hpp"
#include "body_decoder.hpp"
#include "request_arena.hpp"

namespace posthog::server {
namespace {

constexpr std::size_t max_distinct_id = 200;

std::string_view string_member(const boost::json::object& o, std::string_view key) {
  auto const* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// The event's own token, PostHog's order.
std::string_view event_token(const boost::json::object& e) {
  for (auto key : {"token", "$token", "api_key"})
    if (auto t = string_member(e, key); !t.empty()) return t;
  if (auto const* p = e.if_contains("properties"); p && p->is_object())
    if (auto t = string_member(p->get_object(), "token"); !t.empty()) return t;
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

// distinct_id as text, or empty when the event has none.
std::string distinct_id_of(const boost::json::object& e) {
  const boost::json::value* v = e.if_contains("distinct_id");
  if (!v || v->is_null()) v = e.if_contains("$distinct_id");
  if ((!v || v->is_null()) && e.contains("properties") && e.at("properties").is_object())
    v = e.at("properties").get_object().if_contains("distinct_id");
  if (!v) return {};
  std::string id;
  if (v->is_string()) id = v->get_string();
  else if (v->is_int64() || v->is_uint64() || v->is_double()) id = boost::json::serialize(*v);
  else return {};
  if (id.size() > max_distinct_id) {
    std::size_t cut = max_distinct_id;  // on a UTF-8 character boundary
    while (cut > 0 && (static_cast<unsigned char>(id[cut]) & 0xc0) == 0x80) --cut;
    id.resize(cut);
  }
  return id;
}

// PostHog's timestamp rule (plugin-server's parseEventTimestamp).
// Times stay milliseconds since the epoch (int64) throughout: a time_point
// counts nanoseconds and overflows outside 1678-2262. A result that four year
// digits cannot say is invalid, and then, as in PostHog, the event gets `now`.
IsoTimestamp corrected_timestamp(const boost::json::object& e, std::optional<std::int64_t> sent_at_ms,
                                 std::chrono::system_clock::time_point now) {
  auto const now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
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

std::optional<std::int64_t> query_millis(std::string_view query) {
  auto const text = form_value(query, "_");
  std::int64_t ms = 0;
  auto const r = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) return std::nullopt;
  return ms;
}

}  // namespace

CapturedEvents read_capture_payload(std::string_view json, const CaptureContext& context,
                                    const TokenResolver& resolve_token) {
  // Limits first, in one pass over the text: nothing below allocates per value
  // before the body is known to be JSON of a bounded shape.
  auto const scan = scan_payload(json, context.limits);

  // The request's events live in one arena shared by all of them (see
  // request_arena.hpp): freed in one piece when the last one is written.
  constexpr std::size_t slack = 1 << 20;
  auto const budget = std::make_shared<ParseBudget>(parse_budget_factor * json.size() + slack);
  auto const arena = RequestArena::make(budget);
  BudgetedScratch scratch(json.size() + slack);
  boost::json::parse_options options;
  options.max_depth = context.limits.max_depth;
  boost::json::parser parser(boost::json::storage_ptr(&scratch), options);
  parser.reset(arena);
  boost::system::error_code ec;
  std::size_t const consumed = parser.write(json.data(), json.size(), ec);
  if (ec)  // the scan accepted it: only a rule of the parser's own that it does not know
    throw CaptureError(400, "invalid_payload",
                       "malformed JSON at " + text_position(json, consumed) + ": " + ec.message());
  boost::json::value root = parser.release();
  budget->lifted = true;

  // The shapes: a batch object, a bare array, one event. Same storage as the
  // parsed body, so that moving the events in is a pointer swap, not a copy.
  boost::json::array events(root.storage());
  std::string_view batch_token, batch_sent_at;
  if (scan.shape == PayloadShape::batch) {
    auto& o = root.get_object();
    batch_token = string_member(o, "api_key");
    if (batch_token.empty()) batch_token = string_member(o, "token");
    batch_sent_at = string_member(o, "sent_at");
    events = std::move(o.at("batch").get_array());
  } else if (scan.shape == PayloadShape::event_array) {
    events = std::move(root.get_array());
  } else {
    events.push_back(std::move(root));
  }
  if (events.empty()) throw CaptureError(400, "no_events", "the request has no events");

  // One project per request.
  std::string token(batch_token);
  if (token.empty()) {
    for (auto const& v : events) {
      if (!v.is_object()) continue;
      auto const t = event_token(v.get_object());
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

  CapturedEvents out;
  out.team_id = *team;
  std::optional<std::int64_t> sent_at_ms = batch_sent_at.empty() ? std::nullopt : posthog::iso8601_millis(batch_sent_at);
  if (!sent_at_ms) sent_at_ms = query_millis(context.query);
  auto const now = iso8601_text(context.now);
  auto const batch_sent_at_text = iso8601_text(sent_at_ms.value_or(0));

  for (std::size_t i = 0; i < events.size(); ++i) {
    auto reject = [&](std::string why) { out.rejected.push_back({i, std::move(why)}); };
    if (!scan.events[i].problem.empty()) {
      reject(scan.events[i].problem);
      continue;
    }
    if (!events[i].is_object()) {
      reject("an event must be a JSON object");
      continue;
    }
    auto& e = events[i].get_object();
    auto const name = string_member(e, "event");
    if (name.empty()) {
      reject("the event has no name (\"event\")");
      continue;
    }
    auto distinct_id = distinct_id_of(e);
    if (distinct_id.empty()) {
      reject("the event has no distinct_id");
      continue;
    }
    auto event_sent_at = sent_at_ms;
    if (!batch_sent_at.size())
      if (auto own = posthog::iso8601_millis(string_member(e, "sent_at"))) event_sent_at = own;

    // Normalised in place: the client's other fields (properties, $set, ...) stay as sent.
    auto const timestamp = corrected_timestamp(e, event_sent_at, context.now);
    e.reserve(e.size() + 9);  // the fields below, without a rehash on the way
    auto const uuid = string_member(e, "uuid");
    if (!is_uuid(uuid)) e["uuid"] = uuid_v7_text(context.now).view();
    for (auto key : {"$distinct_id", "api_key", "$token", "offset"}) e.erase(key);
    if (auto const* d = e.if_contains("distinct_id"); !d || !d->is_string() || d->get_string() != distinct_id)
      e["distinct_id"] = distinct_id;  // a number, or too long: now the string PostHog would store
    e["team_id"] = out.team_id;
    e["ip"] = context.ip;
    e["site_url"] = context.site_url;
    e["now"] = now.view();
    if (!event_sent_at) e.erase("sent_at");
    else if (event_sent_at == sent_at_ms) e["sent_at"] = batch_sent_at_text.view();
    else e["sent_at"] = iso8601_text(*event_sent_at).view();
    e["timestamp"] = timestamp.view();
    e["token"] = token;
    if (!e.contains("properties") || !e.at("properties").is_object()) e["properties"] = boost::json::object();
    out.events.push_back(std::move(e));
  }
  if (out.events.empty()) {
    std::string why = out.rejected.size() == 1 ? out.rejected[0].message : "every event in the request is invalid";
    if (events.size() > 1) why += " (first: event " + std::to_string(out.rejected[0].index) + ": " + out.rejected[0].message + ")";
    throw CaptureError(400, "invalid_event", why);
  }
  return out;
}

}  // namespace posthog::server
