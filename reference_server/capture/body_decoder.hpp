// BodyDecoder: a capture request's body, whatever encoding a PostHog client
// used, turned into JSON text.
//
// In PostHog capture's order: a form body (`data=`, or GET `?data=`) is
// URL-decoded and its `data` taken; then gzip when the bytes start with gzip's
// magic (posthog-js sends gzip as text/plain with no marker), when
// `compression` is gzip or gzip-js, or with `Content-Encoding: gzip`; lz-string
// base64 when `compression=lz64`; base64 when a form value or
// `compression=base64` says so; otherwise UTF-8 JSON as sent, not copied.
// Every size is bounded: the decoded text may not exceed `max_decoded` bytes
// of UTF-8 (a gzip or lz64 bomb gets 413, and is stopped as soon as it crosses
// the limit). A gzip body of several members (gzip's own concatenation) is
// decoded whole; bytes after the last member are refused, never dropped.
// Content-Encoding is read as RFC 9110's list of codings: "gzip" (or
// "x-gzip") once at most, and "identity".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "capture_error.hpp"

namespace posthog::server {

struct CaptureBody {
  std::string_view method;            // "GET" or "POST"
  std::string_view content_type;      // as sent, parameters included
  std::string_view content_encoding;  // as sent
  std::string_view query;             // the raw query string, without '?'
  std::string_view body;
};

// The body's JSON text: the request's own bytes when they needed no decoding.
// Refers to the CaptureBody's body then, so it must not outlive it.
struct DecodedBody {
  std::string decoded;       // what decoding produced
  std::string_view as_sent;  // the body itself, when nothing was decoded
  bool was_decoded = false;
  std::string_view text() const noexcept { return was_decoded ? std::string_view(decoded) : as_sent; }
};

// Throws CaptureError: 400 (cannot decode; a `compression` it does not know),
// 413 (over max_decoded), 415 (a Content-Encoding other than gzip).
DecodedBody decode_capture_body(const CaptureBody& request, std::size_t max_decoded);

// A query-string or form parameter, URL-decoded ('+' is a space); empty when absent.
std::string form_value(std::string_view form, std::string_view key);

// Standard or URL-safe base64, padding optional, whitespace ignored; nullopt-like
// failure is a CaptureError 400.
std::string decode_base64(std::string_view text);

// gzip (or zlib) to bytes, at most `max_output`; CaptureError 400 or 413.
std::string gunzip(std::string_view data, std::size_t max_output);

}  // namespace posthog::server
