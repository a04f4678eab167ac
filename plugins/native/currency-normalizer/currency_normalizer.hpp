// currency-normalizer: PostHog's Currency Normalization plugin, native.
//
// When an event has properties.price and properties.currency (names
// configurable), writes properties.normalized_price (rounded to 4 decimals, as
// PostHog) and properties.normalized_currency in the team's currency. Rates come
// from the team's `rates`, else from the instance's shared RatesFeed (inline
// table or URL, refreshed by run_every_hour). An unknown currency or a malformed
// amount is logged and the event goes on unchanged.
//
//   settings: {"rates_url": "https://example.com/latest.json"}
//   team config: {"normalizedCurrency": "EUR"}
#pragma once

#include <posthog/plugin.hpp>

#include <memory>
#include <string>

#include "rate_table.hpp"
#include "rates_feed.hpp"

namespace posthog::plugins {

class CurrencyNormalizer {
 public:
  static std::shared_ptr<currency::RatesFeed> setup_instance(posthog::InstanceContext& instance);

  // Throws ConfigError naming `normalizedCurrency` or `rates`.
  CurrencyNormalizer(posthog::TeamContext& team, currency::RatesFeed& feed);

  bool process_event(posthog::Event& event, posthog::Meta& meta) noexcept;
  void run_every_hour(posthog::Meta& meta);

 private:
  currency::RatesFeed& feed_;
  std::shared_ptr<const currency::RateTable> own_rates_;  // the team's `rates`, when given
  std::string target_;
  std::string amount_key_, currency_key_, normalized_amount_key_, normalized_currency_key_;
};

}  // namespace posthog::plugins
