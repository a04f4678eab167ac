#include "geoip.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include <posthog/timestamp.hpp>

namespace posthog::plugins {
namespace {

using geoip::Field;
using geoip::Location;
using geoip::Presence;

constexpr auto one_day = std::chrono::hours(24);
// The person fields PostHog's plugin defaults to null in $set and $set_once
// before writing what the lookup found (its defaultLocationSetProps).
constexpr std::string_view person_fields[] = {
    "city_name",    "subdivision_2_name", "subdivision_2_code", "subdivision_1_name", "subdivision_1_code",
    "country_name", "country_code",       "continent_name",     "continent_code",     "postal_code",
    "latitude",     "longitude",          "time_zone"};

// JavaScript truthiness, which PostHog's plugin applies to $ip and $geoip_disable.
bool truthy(const boost::json::value* v) noexcept {
  if (!v) return false;
  switch (v->kind()) {
    case boost::json::kind::null: return false;
    case boost::json::kind::bool_: return v->get_bool();
    case boost::json::kind::int64: return v->get_int64() != 0;
    case boost::json::kind::uint64: return v->get_uint64() != 0;
    case boost::json::kind::double_: return v->get_double() != 0 && v->get_double() == v->get_double();
    case boost::json::kind::string: return !v->get_string().empty();
    default: return true;
  }
}

// The address to locate: properties.$ip when truthy, else ip. A truthy $ip that
// is not a string is not an address (PostHog would stringify it and fail).
const boost::json::value* address_value(const Event& event) noexcept {
  if (auto const* v = event.property("$ip"); truthy(v)) return v;
  auto const* v = event.raw().if_contains("ip");
  return truthy(v) ? v : nullptr;
}

// Writes one location field into properties, and, for a person update, $set and
// $set_once, under PostHog's names. Keys are built on the stack.
class LocationWriter {
 public:
  // Room for every field up front: growing an object rehashes it.
  static constexpr std::size_t most_fields = std::size(person_fields) + 8;

  LocationWriter(Event& event, bool person) : props_(event.properties()) {
    props_.reserve(props_.size() + most_fields);
    if (!person) return;
    set_ = &event.set();
    set_once_ = &event.set_once();
    set_->reserve(set_->size() + most_fields);
    set_once_->reserve(set_once_->size() + most_fields);
    // Every person field defaults to null; values the event already had win.
    for (auto field : person_fields) {
      set_->emplace(key("$geoip_", field), nullptr);
      set_once_->emplace(key("$initial_geoip_", field), nullptr);
    }
  }

  // A field whose record the answer lacks is left as it is; one whose record
  // lacks the value was `undefined` in PostHog's plugin, a key its event's
  // serialisation dropped: removed here, whatever the event or the default had.
  template <class T>
  void put(std::string_view field, const Field<T>& f) {
    if (f.presence == Presence::no_record) return;
    if (f.presence == Presence::no_value) return remove(field);
    props_[key("$geoip_", field)] = f.value;
    if (!set_) return;
    (*set_)[key("$geoip_", field)] = f.value;
    (*set_once_)[key("$initial_geoip_", field)] = f.value;
  }

 private:
  void remove(std::string_view field) {
    props_.stable_erase(key("$geoip_", field));
    if (!set_) return;
    set_->stable_erase(key("$geoip_", field));
    set_once_->stable_erase(key("$initial_geoip_", field));
  }

  std::string_view key(std::string_view prefix, std::string_view field) {
    std::size_t const n = std::min(prefix.size() + field.size(), sizeof buf_);
    std::memcpy(buf_, prefix.data(), prefix.size());
    std::memcpy(buf_ + prefix.size(), field.data(), n - prefix.size());
    return {buf_, n};
  }

  boost::json::object& props_;
  boost::json::object* set_ = nullptr;
  boost::json::object* set_once_ = nullptr;
  char buf_[64];
};

// In the order PostHog's plugin assigns them.
void write_location(Event& event, const Location& l, bool person) {
  LocationWriter w(event, person);
  w.put("city_name", l.city_name);
  w.put("country_name", l.country_name);
  w.put("country_code", l.country_code);
  w.put("continent_name", l.continent_name);
  w.put("continent_code", l.continent_code);
  w.put("postal_code", l.postal_code);
  w.put("latitude", l.latitude);
  w.put("longitude", l.longitude);
  w.put("time_zone", l.time_zone);
  for (std::size_t i = 0; i < l.subdivision_count; ++i) {
    char field[32];
    auto const& s = l.subdivisions[i];
    int n = std::snprintf(field, sizeof field, "subdivision_%zu_code", i + 1);
    w.put({field, static_cast<std::size_t>(n)}, s.code);
    n = std::snprintf(field, sizeof field, "subdivision_%zu_name", i + 1);
    w.put({field, static_cast<std::size_t>(n)}, s.name);
  }
}

std::vector<std::string> split_paths(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    auto const colon = list.find(':');
    auto const part = list.substr(0, colon);
    if (!part.empty()) out.emplace_back(part);
    if (colon == std::string_view::npos) break;
    list.remove_prefix(colon + 1);
  }
  return out;
}

}  // namespace

std::shared_ptr<geoip::GeoDatabases> GeoIp::setup_instance(posthog::InstanceContext& instance) {
  std::vector<std::string> paths;
  if (auto const* v = instance.settings.if_contains("database")) {
    if (v->is_string()) {
      paths.emplace_back(v->get_string());
    } else if (v->is_array()) {
      for (auto const& p : v->get_array()) {
        if (!p.is_string()) throw ConfigError("database", "every entry of the list must be a path (a string)");
        paths.emplace_back(p.get_string());
      }
    } else {
      throw ConfigError("database", "must be a path or a list of paths");
    }
  } else if (char const* env = std::getenv("POSTHOG_GEOIP_DATABASE")) {
    paths = split_paths(env);
  }
  if (paths.empty())
    throw ConfigError("database",
                      "no GeoIP database: set plugins[].settings.database in the server config or "
                      "POSTHOG_GEOIP_DATABASE to a MaxMind-format .mmdb file");
  try {
    return std::make_shared<geoip::GeoDatabases>(paths);
  } catch (const std::runtime_error& e) {
    throw ConfigError("database", e.what());
  }
}

bool GeoIp::process_event(posthog::Event& event, posthog::Meta& meta) noexcept {
  if (truthy(event.property("$geoip_disable"))) return true;
  auto const* value = address_value(event);
  if (!value) return true;
  if (!value->is_string()) {
    meta.logger.debug("geoip: the event's address is not a string; event left unchanged");
    return true;
  }
  // Copied to the stack: a short string lives inside the JSON value, which
  // moves when the properties grow. Anything longer is no address anyway.
  std::string_view const text = value->get_string();
  char ip_buffer[64];
  if (text.size() >= sizeof ip_buffer) {
    meta.logger.debug("geoip: the event's address is too long to be an IP address; event left unchanged");
    return true;
  }
  text.copy(ip_buffer, text.size());
  std::string_view const ip(ip_buffer, text.size());
  bool malformed = false;
  auto const address = geoip::parse_public_ip(ip, &malformed);
  if (!address) {
    if (malformed) meta.logger.debug("geoip: '" + std::string(ip) + "' is not an IP address; event left unchanged");
    return true;
  }
  auto const location = databases_.locate(*address);
  if (!location) return true;

  // Read before the event is written to (the views would move with it); the
  // person's cache entry is updated first for the same reason.
  std::string_view const distinct_id = event.distinct_id();
  std::string_view const timestamp = event.timestamp();
  bool person = true;
  if (!distinct_id.empty()) {
    try {
      auto const last = meta.cache.get(distinct_id);
      if (last && last->is_string()) {
        std::string_view const entry = last->get_string();
        auto const bar = entry.find('|');
        std::string_view const last_ip = entry.substr(0, bar);
        std::string_view const last_time = bar == std::string_view::npos ? std::string_view() : entry.substr(bar + 1);
        // A late event (sent before, received after, the one that set the
        // person's location) must not overwrite it.
        bool late = false;
        if (!timestamp.empty() && !last_time.empty()) {
          auto const ours = posthog::iso8601_millis(timestamp), theirs = posthog::iso8601_millis(last_time);
          late = ours && theirs && *ours < *theirs;
        }
        if (last_ip == ip || late) person = false;
      }
      if (person) {
        std::string remembered;
        remembered.reserve(ip.size() + 1 + timestamp.size());
        remembered.append(ip).append(1, '|').append(timestamp);
        meta.cache.set(distinct_id, remembered, one_day);
      }
    } catch (const std::exception& e) {
      meta.logger.warn(std::string("geoip: the team's cache failed, the person is updated without it: ") + e.what());
    }
  }

  write_location(event, *location, person);
  return true;
}

}  // namespace posthog::plugins
