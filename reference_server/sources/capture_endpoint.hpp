// CaptureEndpoint: PostHog's capture API over HTTP.
//
// Paths /e, /capture, /batch, /i/v0/e, /track and /engage, with or without the
// trailing slash; POST, GET (?data=) and OPTIONS (CORS preflight). A request's
// body is decoded (body_decoder.hpp), its events checked and split into event
// log records (capture_payload.hpp) and appended to the log, which takes them
// all or none: 200 only once the log has them (as durable as serve.log.fsync
// says); 503 with Retry-After when the log is full or cannot be written, so
// clients retry (posthog-js drops events on 429, never use it). Success is
// PostHog's `200 {"status": 1}`, plus the events rejected one by one, if any
// (the first `listed_rejections`, and how many more there were).
// Errors are JSON: {"status": 0, "code": ..., "error": "what is wrong"}.
//
// The client's address is the socket's, or the leftmost X-Forwarded-For (then
// X-Real-Ip) when the socket's peer is one of the trusted proxies.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "http/http_exchange.hpp"
#include "capture/capture_payload.hpp"

namespace posthog::server {

struct CaptureLimits {
  std::size_t max_decoded_bytes = 20 << 20;
  PayloadLimits payload;  // events per request, nesting
  int retry_after_seconds = 5;
  std::vector<std::string> trusted_proxies;
};

class CaptureEndpoint {
 public:
  CaptureEndpoint(CaptureLimits limits, TokenResolver resolve, EventLog& log)
      : limits_(std::move(limits)), resolve_(std::move(resolve)), log_(log) {}

  static constexpr std::size_t listed_rejections = 100;

  static bool serves(std::string_view path) noexcept;
  HttpResponse handle(const HttpRequest& request) const;

  // Requests answered 503 because the log was full (before reading the body,
  // or after), or could not be written.
  std::uint64_t refused_busy() const noexcept { return refused_busy_.load(std::memory_order_relaxed); }
  std::uint64_t refused_unavailable() const noexcept { return refused_unavailable_.load(std::memory_order_relaxed); }

 private:
  std::string client_ip(const HttpRequest& request) const;

  CaptureLimits limits_;
  TokenResolver resolve_;
  EventLog& log_;
  mutable std::atomic<std::uint64_t> refused_busy_{0}, refused_unavailable_{0};
};

// The JSON error body every endpoint uses.
HttpResponse json_error(int status, std::string_view code, std::string_view message);

}  // namespace posthog::server
