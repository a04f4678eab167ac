// The module's entry: descriptor and hook table for the GeoIp class.
#include "geoip.hpp"

POSTHOG_PLUGIN(posthog::plugins::GeoIp)
