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

// One location field as PostHog's plugin sees it. The plugin assigns a field
// only when the record that holds it (city, country, continent, postal,
// location, a subdivision) is in the answer, and then assigns whatever the
// record has, JavaScript's `undefined` when it has no such value; serialising
// the event drops a key whose value is undefined. So three states, not two:
//   - no_record: nothing is written; a person's field keeps its null default;
//   - no_value:  the key is removed from properties, $set and $set_once;
//   - value:     the value is written.
enum class Presence : std::uint8_t { no_record, no_value, value };

template <class T>
struct Field {
  Presence presence = Presence::no_record;
  T value{};

  static Field missing_from_record() noexcept { return {Presence::no_value, {}}; }
  static Field of(T v) noexcept { return {Presence::value, v}; }
};

struct Subdivision {  // a listed subdivision is a record: its fields are no_value or value
  Field<std::string_view> code;
  Field<std::string_view> name;
};

struct Location {
  Field<std::string_view> city_name, country_name, country_code, continent_name, continent_code, postal_code,
      time_zone;
  Field<double> latitude, longitude;
  // GeoIP2 lists two subdivisions at most; further ones are not read.
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
