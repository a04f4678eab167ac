// PosthogForwardSink: events forwarded to a PostHog instance's /batch/ API,
// which is what running this server in front of PostHog means.
//
// write() only appends the batch to the durable store's backlog (one SQLite
// transaction): once it returns, the events survive a crash and a restart, and
// on_event hooks may run. A sender thread posts the backlog oldest first,
// gzip-compressed, `batch_events` at a time, grouped by project token (the
// `api_key` setting, else each team's own token):
//   2xx            delivered, removed from the backlog;
//   408, 425, 429, kept and retried with exponential backoff (100 ms doubling
//   5xx, network   to 30 s, or the server's Retry-After), and /_ready says the
//                  sink is unreachable;
//   other 4xx      the target will never take it: the batch is parked in the
//                  store with the answer (admin API, metrics) so the batches
//                  behind it keep flowing.
// When the backlog holds `max_backlog_events`, write() refuses: workers hold
// their batches and capture answers 503, instead of filling the disk.
//
// PostHog sets an event's $ip from the address the event came from, which for
// forwarded events is this server's: the sender copies the event's `ip` into
// `properties.$ip` when the event has none, as PostHog would have done for the
// original client.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "stores/durable_store.hpp"
#include "event_sink.hpp"

namespace posthog::server {

struct ForwardOptions {
  std::string url;      // https://eu.i.posthog.com, or http://host:port/prefix
  std::string api_key;  // empty: each team's own token
  std::size_t batch_events = 500;
  std::size_t max_backlog_events = 1000000;
  std::chrono::milliseconds first_backoff{100};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::seconds timeout{10};
};

struct ForwardStatus {
  bool reachable = true;  // false while the last attempt failed with 429/5xx/network
  std::string last_error;
  std::uint64_t delivered_events = 0, delivered_batches = 0, failed_attempts = 0, parked_batches = 0;
  BacklogSize backlog;
};

class PosthogForwardSink final : public EventSink {
 public:
  using TokenOf = std::function<std::string(std::int64_t team_id)>;  // empty: unknown team
  using Report = std::function<void(const std::string& json_line)>;   // diagnostics (stderr)

  // Throws std::invalid_argument when the URL cannot be used.
  PosthogForwardSink(ForwardOptions options, DurableStore& store, TokenOf token_of, Report report);
  ~PosthogForwardSink() override;

  void write(const SinkBatch& batch) override;
  // Keeps delivering until the backlog is empty or `drain_for` has passed; what
  // is left stays in the store and is sent after the next start.
  void flush() override { drain(std::chrono::seconds(5)); }
  bool wants_ip_in_properties() const noexcept override { return true; }
  void drain(std::chrono::milliseconds drain_for);

  ForwardStatus status();
  // Parked batches back into the backlog (after fixing what the target refused); the events moved.
  std::uint64_t retry_parked();

 private:
  enum class Sent { nothing_to_send, delivered_or_parked, failed };
  struct Connection;  // cpp-httplib's client, kept out of this header

  void sender_loop();
  void stop_sender();
  // Posts the oldest batches of one token; on failure sets `retry_after`.
  Sent send_some(std::chrono::milliseconds& retry_after);

  ForwardOptions options_;
  std::string origin_, path_;  // "https://host:port", "/prefix/batch/"
  DurableStore& store_;
  TokenOf token_of_;
  Report report_;
  std::atomic<std::uint64_t> backlog_events_{0};
  std::unique_ptr<Connection> connection_;  // used by one thread at a time

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool have_work_ = true;  // the store may hold a backlog from the last run
  ForwardStatus status_;
  std::thread sender_;
};

}  // namespace posthog::server
