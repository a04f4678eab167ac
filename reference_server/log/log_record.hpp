// LogRecord: one request's events for one partition, as the event log keeps
// them (in a segment file, or as a Redis stream entry).
//
// Capture does not parse events (payload_scan.hpp checks and splits the
// body); it writes each event's text as the client sent it, with what the
// worker needs to normalise it the way PostHog's capture did: the request's
// stamp (time of capture, sent_at, client address, site, token) and, per
// event, the distinct_id capture read and the uuid it assigned when the
// client's was not a UUID (assigned once, so that an event processed again
// after a crash keeps its uuid). Events captured by plugins (`meta.capture`
// from a job, a schedule, an export) are already whole: kind `formed`.
//
//   LogRecordWriter w(RecordKind::capture, team_id, depth, stamp);
//   w.add(event_text, distinct_id, assigned_uuid);
//   std::string payload = w.finish();
//   LogRecordView r(payload);            // throws LogRecordError when damaged
//   for (auto e : r.events()) ... e.text, e.distinct_id, e.uuid
//
// Little-endian fixed-width integers, strings as length + bytes. Decoding is
// bounds-checked throughout: a Redis stream can be written by anyone who can
// reach it, and a record that does not decode is skipped and counted.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace posthog::server {

class LogRecordError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class RecordKind : std::uint8_t {
  capture = 1,  // events as a client sent them, normalised by the worker
  formed = 2,   // events a plugin captured, already whole
};

struct CaptureStamp {
  std::int64_t now_ms = 0;                       // when capture took the request
  std::optional<std::int64_t> sent_at_ms;        // the batch's sent_at: every event's
  std::optional<std::int64_t> query_sent_at_ms;  // the `_` query parameter: an event's own sent_at wins
  std::string ip;                                // the client, after trusted-proxy handling
  std::string site_url;
  std::string token;
};

class LogRecordWriter {
 public:
  LogRecordWriter(RecordKind kind, std::int64_t team_id, int depth, const CaptureStamp& stamp = {});
  void add(std::string_view text, std::string_view distinct_id = {}, std::string_view assigned_uuid = {});
  std::uint32_t events() const noexcept { return events_; }
  std::size_t size() const noexcept { return out_.size(); }
  // The payload; the writer is empty afterwards.
  std::string finish();

 private:
  std::string out_;
  std::size_t count_at_ = 0;  // where the event count is patched in
  std::uint32_t events_ = 0;
};

struct RecordEvent {
  std::string_view text;
  std::string_view distinct_id;  // capture records: as capture normalised it
  std::string_view uuid;         // empty: the client's own is kept
};

class LogRecordView {
 public:
  explicit LogRecordView(std::string_view payload);  // throws LogRecordError

  RecordKind kind() const noexcept { return kind_; }
  int depth() const noexcept { return depth_; }
  std::int64_t team_id() const noexcept { return team_id_; }
  std::int64_t now_ms() const noexcept { return now_ms_; }
  std::optional<std::int64_t> sent_at_ms() const noexcept { return sent_at_ms_; }
  std::optional<std::int64_t> query_sent_at_ms() const noexcept { return query_sent_at_ms_; }
  std::string_view ip() const noexcept { return ip_; }
  std::string_view site_url() const noexcept { return site_url_; }
  std::string_view token() const noexcept { return token_; }
  std::uint32_t event_count() const noexcept { return count_; }

  class Events {
   public:
    // Each call the next event; throws LogRecordError when the record is damaged.
    bool next(RecordEvent& out);

   private:
    friend class LogRecordView;
    std::string_view rest_;
    std::uint32_t left_ = 0;
  };
  Events events() const noexcept;

 private:
  RecordKind kind_;
  int depth_;
  std::int64_t team_id_, now_ms_;
  std::optional<std::int64_t> sent_at_ms_, query_sent_at_ms_;
  std::string_view ip_, site_url_, token_, events_;
  std::uint32_t count_;
};

}  // namespace posthog::server
