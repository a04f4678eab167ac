// geoip: PostHog's GeoIP plugin, native.
//
// Reads the address from properties.$ip, else the event's ip; unless
// properties.$geoip_disable is set, looks it up and writes $geoip_city_name,
// _country_name, _country_code, _continent_name, _continent_code, _postal_code,
// _latitude, _longitude, _time_zone and $geoip_subdivision_N_code/_name into the
// properties. It mirrors them into $set (and $initial_geoip_* into $set_once),
// with every person field defaulting to null, unless the team's cache says this
// distinct_id was last located from the same address, or this event is older
// than the one that did; that cache entry lives one day. As in PostHog's plugin,
// a field whose record the database has without the value (a location without
// a time zone) is absent from all three, not null: an absent key leaves the
// person's earlier value, a null would erase it.
//
// The database is opened once per process (setup_instance) and shared by every
// team: a team's copy of this plugin is one reference. Invalid, private and
// unknown addresses leave the event as it was.
#pragma once

#include <posthog/plugin.hpp>

#include <memory>
#include <string_view>

#include "geo_database.hpp"

namespace posthog::plugins {

class GeoIp {
 public:
  // Paths from settings.database (a string or a list of strings), else from
  // POSTHOG_GEOIP_DATABASE (':'-separated). Throws ConfigError naming the
  // setting when there is none or a file cannot be opened.
  static std::shared_ptr<geoip::GeoDatabases> setup_instance(posthog::InstanceContext& instance);

  GeoIp(posthog::TeamContext&, geoip::GeoDatabases& databases) noexcept : databases_(databases) {}

  // noexcept: nothing here can fail but memory; a cache failure only costs the
  // person-update shortcut and is logged.
  bool process_event(posthog::Event& event, posthog::Meta& meta) noexcept;

 private:
  const geoip::GeoDatabases& databases_;
};

}  // namespace posthog::plugins
