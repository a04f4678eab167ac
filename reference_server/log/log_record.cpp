#include "log_record.hpp"

#include <cstring>
#include <limits>

namespace posthog::server {
namespace {

constexpr std::uint8_t format_version = 1;
constexpr std::int64_t no_time = std::numeric_limits<std::int64_t>::min();

template <class T>
void put(std::string& out, T v) {
  char bytes[sizeof v];
  std::memcpy(bytes, &v, sizeof v);  // little-endian hosts only (checked by the ABI fingerprint too)
  out.append(bytes, sizeof v);
}

void put_text(std::string& out, std::string_view s) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <class T>
  T get() {
    if (in_.size() < sizeof(T)) throw LogRecordError("event log record: ends inside a field");
    T v;
    std::memcpy(&v, in_.data(), sizeof v);
    in_.remove_prefix(sizeof v);
    return v;
  }
  std::string_view text() {
    auto const n = get<std::uint32_t>();
    if (in_.size() < n) throw LogRecordError("event log record: a text runs past its end");
    auto const s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  std::string_view rest() const noexcept { return in_; }

 private:
  std::string_view in_;
};

}  // namespace

LogRecordWriter::LogRecordWriter(RecordKind kind, std::int64_t team_id, int depth, const CaptureStamp& stamp) {
  out_.reserve(256);
  put<std::uint8_t>(out_, format_version);
  put<std::uint8_t>(out_, static_cast<std::uint8_t>(kind));
  put<std::uint8_t>(out_, static_cast<std::uint8_t>(depth));
  put<std::int64_t>(out_, team_id);
  put<std::int64_t>(out_, stamp.now_ms);
  put<std::int64_t>(out_, stamp.sent_at_ms.value_or(no_time));
  put<std::int64_t>(out_, stamp.query_sent_at_ms.value_or(no_time));
  put_text(out_, stamp.ip);
  put_text(out_, stamp.site_url);
  put_text(out_, stamp.token);
  count_at_ = out_.size();
  put<std::uint32_t>(out_, 0);
}

void LogRecordWriter::add(std::string_view text, std::string_view distinct_id, std::string_view assigned_uuid) {
  put_text(out_, text);
  put_text(out_, distinct_id);
  put_text(out_, assigned_uuid);
  ++events_;
}

std::string LogRecordWriter::finish() {
  std::memcpy(out_.data() + count_at_, &events_, sizeof events_);
  events_ = 0;
  return std::move(out_);
}

LogRecordView::LogRecordView(std::string_view payload) {
  Reader r(payload);
  if (auto const v = r.get<std::uint8_t>(); v != format_version)
    throw LogRecordError("event log record: format " + std::to_string(v) + ", this server reads " +
                         std::to_string(format_version));
  auto const kind = r.get<std::uint8_t>();
  if (kind != static_cast<std::uint8_t>(RecordKind::capture) && kind != static_cast<std::uint8_t>(RecordKind::formed))
    throw LogRecordError("event log record: unknown kind " + std::to_string(kind));
  kind_ = static_cast<RecordKind>(kind);
  depth_ = r.get<std::uint8_t>();
  team_id_ = r.get<std::int64_t>();
  now_ms_ = r.get<std::int64_t>();
  auto const sent_at = r.get<std::int64_t>();
  if (sent_at != no_time) sent_at_ms_ = sent_at;
  auto const query_sent_at = r.get<std::int64_t>();
  if (query_sent_at != no_time) query_sent_at_ms_ = query_sent_at;
  ip_ = r.text();
  site_url_ = r.text();
  token_ = r.text();
  count_ = r.get<std::uint32_t>();
  events_ = r.rest();
}

LogRecordView::Events LogRecordView::events() const noexcept {
  Events e;
  e.rest_ = events_;
  e.left_ = count_;
  return e;
}

bool LogRecordView::Events::next(RecordEvent& out) {
  if (left_ == 0) {
    if (!rest_.empty()) throw LogRecordError("event log record: bytes after its last event");
    return false;
  }
  Reader r(rest_);
  out.text = r.text();
  out.distinct_id = r.text();
  out.uuid = r.text();
  rest_ = r.rest();
  --left_;
  return true;
}

}  // namespace posthog::server
