// Country names and continents by ISO code, for GeoIP databases that carry only
// the code (see country_names.cpp for the data's origin).
#pragma once

#include <string_view>

namespace posthog::plugins::geoip {

struct Country {
  std::string_view iso_code;
  std::string_view name;            // English, as in the countries-list data
  std::string_view continent_code;  // AF AN AS EU NA OC SA
};

const Country* find_country(std::string_view iso_code) noexcept;
std::string_view continent_name(std::string_view continent_code) noexcept;

}  // namespace posthog::plugins::geoip
