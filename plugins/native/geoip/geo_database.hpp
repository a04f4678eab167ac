// GeoDatabase: one memory-mapped MaxMind-format (.mmdb) file, and what a lookup finds.
//
// Opened once per process by the plugin's setup_instance and shared, read-only,
// by every team: the file is mapped, not copied, so its pages are shared with the
// page cache and only the parts lookups touch become resident. Two record
// layouts are understood:
//   - MaxMind's GeoIP2 / GeoLite2 City layout (city.names.en, country.iso_code,
//     subdivisions[], location.time_zone ...), also used by DB-IP's own builds;
//   - the flat layout of ip-location-db's builds (country_code, state1, state2,
//     city, postcode, latitude, longitude, timezone), whose country and
//     continent names come from a built-in ISO 3166 table.
// Strings in a Location point into the mapping and live as long as the database.
#pragma once

#include <maxminddb.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ip_address.hpp"

namespace posthog::plugins::geoip {

struct Subdivision {
  std::string_view code;  // empty when the database has none
  std::string_view name;
};

struct Location {
  std::string_view city_name, country_name, country_code, continent_name, continent_code, postal_code, time_zone;
  std::optional<double> latitude, longitude;
  std::array<Subdivision, 4> subdivisions{};
  std::size_t subdivision_count = 0;
};

class GeoDatabase {
 public:
  // Throws std::runtime_error naming the file and libmaxminddb's reason.
  explicit GeoDatabase(const std::string& path);
  ~GeoDatabase();
  GeoDatabase(const GeoDatabase&) = delete;
  GeoDatabase& operator=(const GeoDatabase&) = delete;

  // nullopt when the database has no entry for the address, or cannot search it
  // (an IPv6 address in an IPv4-only file).
  std::optional<Location> locate(const IpAddress& ip) const noexcept;

  const std::string& path() const noexcept { return path_; }
  std::string_view type() const noexcept { return mmdb_.metadata.database_type; }
  bool flat_layout() const noexcept { return flat_; }

 private:
  std::string path_;
  MMDB_s mmdb_{};
  bool flat_ = false;
};

// Several files searched in order (ip-location-db ships IPv4 and IPv6 apart).
//
// Answers are remembered per thread in a small direct-mapped table keyed by
// address: a person's events mostly come from one address, and a repeated
// lookup then costs a hash instead of a tree walk and a dozen record decodes.
// Entries are tagged with this object's serial number, never reused, so a
// table can never hand out strings of a database that was closed.
class GeoDatabases {
 public:
  explicit GeoDatabases(const std::vector<std::string>& paths);
  std::optional<Location> locate(const IpAddress& ip) const noexcept;
  const std::vector<std::unique_ptr<GeoDatabase>>& files() const noexcept { return files_; }

 private:
  std::optional<Location> search(const IpAddress& ip) const noexcept;

  std::vector<std::unique_ptr<GeoDatabase>> files_;
  std::uint64_t serial_;
};

}  // namespace posthog::plugins::geoip
