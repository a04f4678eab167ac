// CaptureError: why a capture request (or one event in it) was refused, as the
// HTTP status and message the client gets. Thrown by the decoding and payload
// steps; the HTTP layer turns it into a JSON error body.
#pragma once

#include <stdexcept>
#include <string>

namespace posthog::server {

class CaptureError : public std::runtime_error {
 public:
  CaptureError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  int status() const noexcept { return status_; }
  // A short machine-readable kind: "invalid_payload", "invalid_token", "too_large" ...
  const std::string& code() const noexcept { return code_; }

 private:
  int status_;
  std::string code_;
};

}  // namespace posthog::server
