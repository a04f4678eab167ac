// The module's entry: descriptor and hook table for the Downsampling class.
#include "downsampling.hpp"

POSTHOG_PLUGIN(posthog::plugins::Downsampling)
