// normalise_event: an event as a client sent it, made into the event PostHog's
// capture produced, by the worker that parses it from the event log.
//
// Capture checked the event and read its distinct_id without parsing it
// (payload_scan.hpp), and assigned a uuid where the client's was not one; the
// worker's one parse is followed by this, which sets what capture decided and
// what the request says (log_record.hpp's CaptureStamp):
//   uuid           the client's when it is a UUID, else the one capture assigned
//   distinct_id    as capture read it: numbers as text, at most 200 characters
//   team_id, ip, site_url, token, now
//   sent_at        the batch's, else the event's own, else the `_` query parameter
//   timestamp      corrected for the client's clock: now + (timestamp - sent_at);
//                  a timestamp alone is kept; `offset` ms alone gives now - offset;
//                  else now (PostHog's parseEventTimestamp)
//   properties     an object, always
// and removes $distinct_id, api_key, $token and offset.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string_view>

#include "log/log_record.hpp"

namespace posthog::server {

void normalise_event(boost::json::object& event, std::int64_t team_id, const LogRecordView& record,
                     std::string_view distinct_id, std::string_view assigned_uuid);

}  // namespace posthog::server
