// RatesFeed: the exchange rates one process shares between all teams.
//
// Built by setup_instance from the plugin's instance settings: a table given
// inline (`rates`) and/or a URL serving one (`rates_url`, fetched with
// cpp-httplib, Open Exchange Rates' format). Every team's run_every_hour asks
// for a refresh, but the URL is fetched at most once per `refresh_seconds`
// (default 3000) whatever the number of teams; a failed refresh keeps the
// rates it had. Readers never wait: the table is swapped atomically.
#pragma once

#include <boost/json/object.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "rate_table.hpp"

namespace posthog::plugins::currency {

class RatesFeed {
 public:
  // Throws posthog::ConfigError naming the setting when the URL cannot be
  // fetched and no inline table was given, or a setting is malformed.
  explicit RatesFeed(const boost::json::object& settings);

  // The current table, or nullptr when the instance has none (teams then need
  // their own `rates`). Valid until this thread's next call. Loading an
  // atomic<shared_ptr> takes a lock, so each thread keeps the table it saw last
  // and reloads it only when a refresh moved the version: one atomic read per
  // event.
  const RateTable* current() const noexcept;

  enum class Refresh { not_due, refreshed, failed, no_url };
  // Fetches again when the last attempt is older than refresh_seconds; on
  // failure `error` says why and the previous table stays.
  Refresh refresh_if_due(std::string& error);

  const std::string& url() const noexcept { return url_; }

 private:
  // Fetches and parses the URL; throws std::runtime_error saying what failed.
  std::shared_ptr<const RateTable> fetch() const;

  std::string url_;
  std::chrono::seconds refresh_interval_{3000};
  std::chrono::seconds timeout_{10};
  void publish(std::shared_ptr<const RateTable> table);

  std::atomic<std::shared_ptr<const RateTable>> table_;
  std::atomic<std::uint64_t> version_{0};
  std::uint64_t serial_;  // tells this feed's thread-local copies from another feed's
  std::mutex refresh_mutex_;
  std::chrono::steady_clock::time_point last_attempt_{};
};

}  // namespace posthog::plugins::currency
