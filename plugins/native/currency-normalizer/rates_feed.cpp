// The only file of the plugin that includes cpp-httplib (a heavy header).
#include "rates_feed.hpp"

#include <httplib.h>

#include <boost/json/parse.hpp>
#include <posthog/errors.hpp>
#include <stdexcept>

namespace posthog::plugins::currency {
namespace {

std::chrono::seconds seconds_setting(const boost::json::object& settings, const char* key, std::chrono::seconds fallback) {
  auto const* v = settings.if_contains(key);
  if (!v) return fallback;
  if (!v->is_int64() || v->get_int64() < 0) throw ConfigError(key, "must be a whole number of seconds, 0 or more");
  return std::chrono::seconds(v->get_int64());
}

}  // namespace

RatesFeed::RatesFeed(const boost::json::object& settings) {
  static std::atomic<std::uint64_t> serials{0};
  serial_ = ++serials;
  refresh_interval_ = seconds_setting(settings, "refresh_seconds", refresh_interval_);
  timeout_ = seconds_setting(settings, "timeout_seconds", timeout_);
  std::shared_ptr<const RateTable> inline_table;
  if (auto const* r = settings.if_contains("rates")) {
    try {
      inline_table = std::make_shared<const RateTable>(RateTable::parse(*r));
    } catch (const std::invalid_argument& e) {
      throw ConfigError("rates", e.what());
    }
  }
  publish(inline_table);
  if (auto const* u = settings.if_contains("rates_url")) {
    if (!u->is_string() || u->get_string().empty()) throw ConfigError("rates_url", "must be an http(s) URL");
    url_ = u->get_string();
    last_attempt_ = std::chrono::steady_clock::now();
    try {
      publish(fetch());
    } catch (const std::exception& e) {
      // The inline table, when given, is the fallback; without one there is nothing to serve.
      if (!inline_table) throw ConfigError("rates_url", e.what());
    }
  }
}

std::shared_ptr<const RateTable> RatesFeed::fetch() const {
  auto const scheme_end = url_.find("://");
  if (scheme_end == std::string::npos) throw std::runtime_error("'" + url_ + "' is not an http(s) URL");
  auto const path_start = url_.find('/', scheme_end + 3);
  std::string const origin = url_.substr(0, path_start);
  std::string const path = path_start == std::string::npos ? "/" : url_.substr(path_start);
  httplib::Client client(origin);
  client.set_connection_timeout(timeout_);
  client.set_read_timeout(timeout_);
  client.set_follow_location(true);
  auto const response = client.Get(path);
  if (!response) throw std::runtime_error("fetching " + url_ + " failed: " + httplib::to_string(response.error()));
  if (response->status != 200)
    throw std::runtime_error("fetching " + url_ + " failed: HTTP " + std::to_string(response->status));
  std::error_code ec;
  auto const json = boost::json::parse(response->body, ec);
  if (ec) throw std::runtime_error(url_ + " did not answer JSON: " + ec.message());
  try {
    return std::make_shared<const RateTable>(RateTable::parse(json));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(url_ + ": " + e.what());
  }
}

void RatesFeed::publish(std::shared_ptr<const RateTable> table) {
  table_.store(std::move(table), std::memory_order_release);
  version_.fetch_add(1, std::memory_order_release);
}

const RateTable* RatesFeed::current() const noexcept {
  struct Seen {
    std::uint64_t serial = 0, version = 0;
    std::shared_ptr<const RateTable> table;
  };
  thread_local Seen seen;
  auto const version = version_.load(std::memory_order_acquire);
  if (seen.serial != serial_ || seen.version != version) {
    seen.table = table_.load(std::memory_order_acquire);
    seen.serial = serial_;
    seen.version = version;
  }
  return seen.table.get();
}

RatesFeed::Refresh RatesFeed::refresh_if_due(std::string& error) {
  if (url_.empty()) return Refresh::no_url;
  std::unique_lock lock(refresh_mutex_, std::try_to_lock);
  if (!lock) return Refresh::not_due;  // another team's call is fetching right now
  auto const now = std::chrono::steady_clock::now();
  if (now - last_attempt_ < refresh_interval_) return Refresh::not_due;
  last_attempt_ = now;
  try {
    publish(fetch());
    return Refresh::refreshed;
  } catch (const std::exception& e) {
    error = e.what();
    return Refresh::failed;
  }
}

}  // namespace posthog::plugins::currency
