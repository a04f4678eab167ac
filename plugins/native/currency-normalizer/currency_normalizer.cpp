#include "currency_normalizer.hpp"

#include <charconv>
#include <cmath>
#include <optional>

namespace posthog::plugins {
namespace {

// A JSON number, or a string holding exactly one (as clients send "9.99").
std::optional<double> amount_of(const boost::json::value& v) noexcept {
  if (v.is_number()) return v.to_number<double>();
  if (!v.is_string()) return std::nullopt;
  std::string_view s = v.get_string();
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  double d = 0;
  auto const r = std::from_chars(s.data(), s.data() + s.size(), d);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(d)) return std::nullopt;
  return d;
}

std::string describe(const boost::json::value& v) {
  auto text = boost::json::serialize(v);
  return text.size() > 64 ? text.substr(0, 61) + "..." : text;
}

}  // namespace

std::shared_ptr<currency::RatesFeed> CurrencyNormalizer::setup_instance(posthog::InstanceContext& instance) {
  return std::make_shared<currency::RatesFeed>(instance.settings);
}

CurrencyNormalizer::CurrencyNormalizer(posthog::TeamContext& team, currency::RatesFeed& feed)
    : feed_(feed),
      target_(currency::upper_code(team.config.string("normalizedCurrency"))),
      amount_key_(team.config.string("amountProperty")),
      currency_key_(team.config.string("currencyProperty")),
      normalized_amount_key_(team.config.string("normalizedAmountProperty")),
      normalized_currency_key_(team.config.string("normalizedCurrencyProperty")) {
  if (target_.empty()) throw ConfigError("normalizedCurrency", "is empty");
  if (auto const* rates = team.config.find("rates")) {
    try {
      own_rates_ = std::make_shared<const currency::RateTable>(currency::RateTable::parse(*rates));
    } catch (const std::invalid_argument& e) {
      throw ConfigError("rates", e.what());
    }
  }
  const currency::RateTable* table = own_rates_ ? own_rates_.get() : feed_.current();
  if (!table)
    throw ConfigError("rates",
                      "no exchange rates: give this team's rates, or rates / rates_url in the plugin's instance settings");
  if (!table->rate(target_))
    throw ConfigError("normalizedCurrency", "the exchange rates have no rate for '" + target_ + "'");
}

bool CurrencyNormalizer::process_event(posthog::Event& event, posthog::Meta& meta) noexcept {
  auto* props_value = event.raw().if_contains("properties");
  if (!props_value || !props_value->is_object()) return true;
  auto& props = props_value->get_object();
  auto const* amount_value = props.if_contains(amount_key_);
  auto const* currency_value = props.if_contains(currency_key_);
  if (!amount_value || !currency_value) return true;

  auto const amount = amount_of(*amount_value);
  if (!amount) {
    meta.logger.warn("currency-normalizer: properties." + amount_key_ + " is not a number (" +
                     describe(*amount_value) + "); event left unchanged");
    return true;
  }
  if (!currency_value->is_string()) {
    meta.logger.warn("currency-normalizer: properties." + currency_key_ + " is not a currency code (" +
                     describe(*currency_value) + "); event left unchanged");
    return true;
  }
  auto const from = currency::upper_code(currency_value->get_string());
  const currency::RateTable* table = own_rates_ ? own_rates_.get() : feed_.current();
  auto const normalized = table ? table->convert(*amount, from, target_) : std::nullopt;
  if (!normalized) {
    meta.logger.warn("currency-normalizer: no exchange rate for '" + from + "'; event left unchanged");
    return true;
  }
  props[normalized_amount_key_] = *normalized;
  props[normalized_currency_key_] = target_;
  return true;
}

void CurrencyNormalizer::run_every_hour(posthog::Meta& meta) {
  if (own_rates_) return;  // this team's rates come from its config
  std::string error;
  switch (feed_.refresh_if_due(error)) {
    case currency::RatesFeed::Refresh::refreshed:
      meta.logger.info("currency-normalizer: exchange rates refreshed from " + feed_.url());
      break;
    case currency::RatesFeed::Refresh::failed:
      meta.logger.warn("currency-normalizer: refreshing exchange rates failed, keeping the previous ones: " + error);
      break;
    default: break;
  }
}

}  // namespace posthog::plugins
