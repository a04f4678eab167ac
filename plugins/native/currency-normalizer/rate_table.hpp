// RateTable: exchange rates against one base, and conversions through it.
//
// Read from Open Exchange Rates' format ({"base": "USD", "rates": {"EUR": 0.92}}),
// its rates alone ({"rates": {...}}), or a flat {"EUR": 0.92, "USD": 1}. Any base
// works: converting goes through the ratio of two rates. Codes are upper-cased.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace posthog::plugins::currency {

class RateTable {
 public:
  // Throws std::invalid_argument saying which entry is wrong.
  static RateTable parse(const boost::json::value& json);

  std::optional<double> rate(std::string_view code) const noexcept;
  // amount in `from`, expressed in `to`, rounded to 4 decimals as PostHog did;
  // nullopt when either currency is unknown.
  std::optional<double> convert(double amount, std::string_view from, std::string_view to) const noexcept;
  std::size_t size() const noexcept { return rates_.size(); }

 private:
  std::vector<std::pair<std::string, double>> rates_;  // sorted by code
};

// "eur" -> "EUR"; codes are ASCII.
std::string upper_code(std::string_view code);

}  // namespace posthog::plugins::currency
