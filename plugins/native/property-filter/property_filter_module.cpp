// The module's entry: descriptor and hook table for the PropertyFilter class.
#include "property_filter.hpp"

POSTHOG_PLUGIN(posthog::plugins::PropertyFilter)
