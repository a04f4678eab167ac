#include "geo_database.hpp"

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "country_names.hpp"

namespace posthog::plugins::geoip {
namespace {

template <class... Path>
std::string_view string_at(MMDB_entry_s entry, Path... path) noexcept {
  MMDB_entry_data_s data{};
  if (MMDB_get_value(&entry, &data, path..., nullptr) != MMDB_SUCCESS || !data.has_data ||
      data.type != MMDB_DATA_TYPE_UTF8_STRING)
    return {};
  return {data.utf8_string, data.data_size};
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

Location read_maxmind(const MMDB_entry_s& e) noexcept {
  Location l;
  l.city_name = string_at(e, "city", "names", "en");
  l.country_name = string_at(e, "country", "names", "en");
  l.country_code = string_at(e, "country", "iso_code");
  l.continent_name = string_at(e, "continent", "names", "en");
  l.continent_code = string_at(e, "continent", "code");
  l.postal_code = string_at(e, "postal", "code");
  l.latitude = number_at(e, "location", "latitude");
  l.longitude = number_at(e, "location", "longitude");
  l.time_zone = string_at(e, "location", "time_zone");
  static constexpr const char* index[] = {"0", "1", "2", "3"};
  for (auto const* i : index) {
    Subdivision s{string_at(e, "subdivisions", i, "iso_code"), string_at(e, "subdivisions", i, "names", "en")};
    if (s.code.empty() && s.name.empty()) break;
    l.subdivisions[l.subdivision_count++] = s;
  }
  return l;
}

Location read_flat(const MMDB_entry_s& e) noexcept {
  Location l;
  l.country_code = string_at(e, "country_code");
  if (auto const* c = find_country(l.country_code)) {
    l.country_name = c->name;
    l.continent_code = c->continent_code;
    l.continent_name = continent_name(c->continent_code);
  }
  l.city_name = string_at(e, "city");
  l.postal_code = string_at(e, "postcode");
  l.latitude = number_at(e, "latitude");
  l.longitude = number_at(e, "longitude");
  l.time_zone = string_at(e, "timezone");
  for (auto const* key : {"state1", "state2"}) {
    auto name = string_at(e, key);
    if (name.empty()) break;
    l.subdivisions[l.subdivision_count++] = {{}, name};
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
