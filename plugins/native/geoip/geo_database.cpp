#include "geo_database.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <stdexcept>

#include "country_names.hpp"

namespace posthog::plugins::geoip {
namespace {

// The string at `path`, including an empty one; nullopt when there is none (or
// it is not a string, which no valid database has).
template <class... Path>
std::optional<std::string_view> string_at(MMDB_entry_s entry, Path... path) noexcept {
  MMDB_entry_data_s data{};
  if (MMDB_get_value(&entry, &data, path..., nullptr) != MMDB_SUCCESS || !data.has_data ||
      data.type != MMDB_DATA_TYPE_UTF8_STRING)
    return std::nullopt;
  return std::string_view(data.utf8_string, data.data_size);
}

// A float stored by the database, as the shortest decimal that reads back to it
// (37.422001f is 37.422001, not 37.42200088500977).
double widen(float f) noexcept {
  char buf[32];
  auto const r = std::to_chars(buf, buf + sizeof buf - 1, f);
  *r.ptr = '\0';
  return std::strtod(buf, nullptr);
}

template <class... Path>
std::optional<double> number_at(MMDB_entry_s entry, Path... path) noexcept {
  MMDB_entry_data_s data{};
  if (MMDB_get_value(&entry, &data, path..., nullptr) != MMDB_SUCCESS || !data.has_data) return std::nullopt;
  if (data.type == MMDB_DATA_TYPE_DOUBLE) return data.double_value;
  if (data.type == MMDB_DATA_TYPE_FLOAT) return widen(data.float_value);
  return std::nullopt;
}

bool has_record(MMDB_entry_s entry, const char* key) noexcept {
  MMDB_entry_data_s data{};
  return MMDB_get_value(&entry, &data, key, nullptr) == MMDB_SUCCESS && data.has_data;
}

// A field of a record: no_record when the record is not in the answer, else
// the value, or no_value when the record lacks it.
template <class T>
Field<T> field_of(bool record, std::optional<T> value) noexcept {
  if (!record) return {};
  return value ? Field<T>::of(*value) : Field<T>::missing_from_record();
}

Location read_maxmind(const MMDB_entry_s& e) noexcept {
  Location l;
  bool const city = has_record(e, "city"), country = has_record(e, "country"),
             continent = has_record(e, "continent"), postal = has_record(e, "postal"),
             location = has_record(e, "location");
  l.city_name = field_of(city, string_at(e, "city", "names", "en"));
  l.country_name = field_of(country, string_at(e, "country", "names", "en"));
  l.country_code = field_of(country, string_at(e, "country", "iso_code"));
  l.continent_name = field_of(continent, string_at(e, "continent", "names", "en"));
  l.continent_code = field_of(continent, string_at(e, "continent", "code"));
  l.postal_code = field_of(postal, string_at(e, "postal", "code"));
  l.latitude = field_of(location, number_at(e, "location", "latitude"));
  l.longitude = field_of(location, number_at(e, "location", "longitude"));
  l.time_zone = field_of(location, string_at(e, "location", "time_zone"));
  MMDB_entry_data_s list{};
  MMDB_entry_s entry = e;
  if (MMDB_get_value(&entry, &list, "subdivisions", nullptr) == MMDB_SUCCESS && list.has_data &&
      list.type == MMDB_DATA_TYPE_ARRAY) {
    static constexpr const char* index[] = {"0", "1", "2", "3"};
    l.subdivision_count = std::min<std::size_t>(list.data_size, std::size(index));
    for (std::size_t i = 0; i < l.subdivision_count; ++i)
      l.subdivisions[i] = {field_of(true, string_at(e, "subdivisions", index[i], "iso_code")),
                           field_of(true, string_at(e, "subdivisions", index[i], "names", "en"))};
  }
  return l;
}

// ip-location-db's rows are GeoIP2 City records flattened, with "" for what the
// source did not have; read back as the record they came from, so that the
// rule of PostHog's plugin applies to them the same way: a country code stands
// for the country and continent records, a coordinate or time zone for the
// location record, a state for a subdivision (whose code the layout never has).
Location read_flat(const MMDB_entry_s& e) noexcept {
  auto text = [&](const char* key) -> std::optional<std::string_view> {
    auto v = string_at(e, key);
    return v && !v->empty() ? v : std::nullopt;
  };
  Location l;
  if (auto const code = text("country_code")) {
    l.country_code = Field<std::string_view>::of(*code);
    auto const* c = find_country(*code);
    l.country_name = field_of(true, c ? std::optional(c->name) : std::nullopt);
    l.continent_code = field_of(true, c ? std::optional(c->continent_code) : std::nullopt);
    l.continent_name = field_of(true, c ? std::optional(continent_name(c->continent_code)) : std::nullopt);
  }
  if (auto const city = text("city")) l.city_name = Field<std::string_view>::of(*city);
  if (auto const postcode = text("postcode")) l.postal_code = Field<std::string_view>::of(*postcode);
  auto const latitude = number_at(e, "latitude"), longitude = number_at(e, "longitude");
  auto const time_zone = text("timezone");
  bool const location = latitude || longitude || time_zone;
  l.latitude = field_of(location, latitude);
  l.longitude = field_of(location, longitude);
  l.time_zone = field_of(location, time_zone);
  for (auto const* key : {"state1", "state2"}) {
    auto const name = text(key);
    if (!name) break;
    l.subdivisions[l.subdivision_count++] = {Field<std::string_view>::missing_from_record(),
                                             Field<std::string_view>::of(*name)};
  }
  return l;
}

}  // namespace

GeoDatabase::GeoDatabase(const std::string& path) : path_(path) {
  int const status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &mmdb_);
  if (status != MMDB_SUCCESS) {
    std::string why = MMDB_strerror(status);
    if (status == MMDB_IO_ERROR || status == MMDB_FILE_OPEN_ERROR) why += std::string(" (") + std::strerror(errno) + ")";
    throw std::runtime_error("cannot open GeoIP database " + path + ": " + why);
  }
  std::string_view const type = mmdb_.metadata.database_type ? mmdb_.metadata.database_type : "";
  // ip-location-db names its flat builds "city ipv4", "country ipv6", ...
  flat_ = type.find(" ipv") != std::string_view::npos;
}

GeoDatabase::~GeoDatabase() { MMDB_close(&mmdb_); }

std::optional<Location> GeoDatabase::locate(const IpAddress& ip) const noexcept {
  if (ip.is_v6() && mmdb_.metadata.ip_version == 4) return std::nullopt;
  int error = MMDB_SUCCESS;
  auto const result = MMDB_lookup_sockaddr(&mmdb_, ip.address(), &error);
  if (error != MMDB_SUCCESS || !result.found_entry) return std::nullopt;
  return flat_ ? read_flat(result.entry) : read_maxmind(result.entry);
}

GeoDatabases::GeoDatabases(const std::vector<std::string>& paths) {
  static std::atomic<std::uint64_t> serials{0};
  serial_ = ++serials;
  if (paths.empty()) throw std::runtime_error("no GeoIP database given");
  for (auto const& p : paths) files_.push_back(std::make_unique<GeoDatabase>(p));
}

std::optional<Location> GeoDatabases::search(const IpAddress& ip) const noexcept {
  for (auto const& f : files_)
    if (auto l = f->locate(ip)) return l;
  return std::nullopt;
}

std::optional<Location> GeoDatabases::locate(const IpAddress& ip) const noexcept {
  struct Slot {
    std::uint64_t serial = 0;  // 0: empty
    std::array<unsigned char, 17> address{};
    std::optional<Location> answer;
  };
  static constexpr std::size_t slots = 1024;
  thread_local std::unique_ptr<Slot[]> table(new Slot[slots]);

  std::array<unsigned char, 17> address{};  // family, then the address bytes
  address[0] = static_cast<unsigned char>(ip.storage.ss_family);
  if (ip.is_v6())
    std::memcpy(address.data() + 1, &reinterpret_cast<const sockaddr_in6*>(&ip.storage)->sin6_addr, 16);
  else
    std::memcpy(address.data() + 1, &reinterpret_cast<const sockaddr_in*>(&ip.storage)->sin_addr, 4);
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (auto b : address) h = (h ^ b) * 1099511628211ull;
  Slot& slot = table[h % slots];
  if (slot.serial == serial_ && slot.address == address) return slot.answer;
  slot.answer = search(ip);
  slot.serial = serial_;
  slot.address = address;
  return slot.answer;
}

}  // namespace posthog::plugins::geoip
