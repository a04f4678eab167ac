#include "rate_table.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace posthog::plugins::currency {

std::string upper_code(std::string_view code) {
  std::string out(code);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

RateTable RateTable::parse(const boost::json::value& json) {
  auto const* root = json.if_object();
  if (!root) throw std::invalid_argument("exchange rates must be a JSON object");
  const boost::json::object* rates = root;
  if (auto const* r = root->if_contains("rates")) {
    if (!r->is_object()) throw std::invalid_argument("\"rates\" must be an object of currency: rate");
    rates = &r->get_object();
  }
  RateTable table;
  for (auto const& [code, value] : *rates) {
    if (rates == root && code == "base") continue;
    if (!value.is_number())
      throw std::invalid_argument("the rate of " + std::string(code) + " is not a number");
    double const rate = value.to_number<double>();
    if (!(rate > 0) || !std::isfinite(rate))
      throw std::invalid_argument("the rate of " + std::string(code) + " must be a positive number");
    table.rates_.emplace_back(upper_code(code), rate);
  }
  if (auto const* base = root->if_contains("base")) {
    if (!base->is_string()) throw std::invalid_argument("\"base\" must be a currency code");
    auto code = upper_code(base->get_string());
    if (std::none_of(table.rates_.begin(), table.rates_.end(), [&](auto const& r) { return r.first == code; }))
      table.rates_.emplace_back(std::move(code), 1.0);
  }
  if (table.rates_.empty()) throw std::invalid_argument("the exchange rates table is empty");
  std::sort(table.rates_.begin(), table.rates_.end());
  return table;
}

std::optional<double> RateTable::rate(std::string_view code) const noexcept {
  auto it = std::lower_bound(rates_.begin(), rates_.end(), code,
                             [](auto const& r, std::string_view c) { return r.first < c; });
  if (it == rates_.end() || it->first != code) return std::nullopt;
  return it->second;
}

std::optional<double> RateTable::convert(double amount, std::string_view from, std::string_view to) const noexcept {
  auto const f = rate(from), t = rate(to);
  if (!f || !t) return std::nullopt;
  return std::round(amount * *t / *f * 10000) / 10000;
}

}  // namespace posthog::plugins::currency
