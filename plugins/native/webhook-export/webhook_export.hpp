// webhook-export: POSTs each export batch as a JSON array of events to a URL.
//
// 429, 5xx and network errors (refused, reset, timed out) throw RetryError:
// the server hands the batch over again on PostHog's schedule. Other 4xx are
// a failure of that batch, logged with it, not retried.
//
//   {"url": "https://example.com/hooks/posthog", "headers": "{\"Authorization\": \"Bearer x\"}",
//    "timeout_seconds": "10"}
#pragma once

#include <posthog/plugin.hpp>

#include <span>

#include "http_post.hpp"

namespace posthog::plugins {

class WebhookExport {
 public:
  // Throws ConfigError naming url, headers or timeout_seconds.
  explicit WebhookExport(posthog::TeamContext& team);

  void export_events(std::span<const posthog::Event> batch, posthog::Meta& meta);

 private:
  HttpEndpoint target_;
  HttpPostOptions options_;
};

}  // namespace posthog::plugins
