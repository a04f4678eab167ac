// posthog-replicator: PostHog's Replicator plugin, native. Each export batch
// goes to another PostHog's /batch/ API under that project's token.
//
// As PostHog's plugin did: team_id, person and the capture bookkeeping (now,
// offset, sent_at, $token, project_id, api_key) are left out, the client's ip
// becomes properties.$ip, events named in `events_to_ignore` are skipped, and
// `replication` sends each event that many times. 429, 5xx and network errors
// are retried (RetryError); other 4xx are logged with the batch.
//
//   {"host": "eu.i.posthog.com", "project_api_key": "phc_...", "events_to_ignore": "$pageleave"}
#pragma once

#include <posthog/plugin.hpp>

#include <boost/json/object.hpp>
#include <set>
#include <span>
#include <string>

#include "http_post.hpp"

namespace posthog::plugins {

class PosthogReplicator {
 public:
  // Throws ConfigError naming host, replication or timeout_seconds.
  explicit PosthogReplicator(posthog::TeamContext& team);

  void export_events(std::span<const posthog::Event> batch, posthog::Meta& meta);

  // The event as it is sent: what the other instance's capture would take.
  boost::json::object sendable(const boost::json::object& event) const;

 private:
  HttpEndpoint target_;
  HttpPostOptions options_;
  std::string api_key_;
  int replication_ = 1;
  std::set<std::string, std::less<>> ignored_;
};

}  // namespace posthog::plugins
