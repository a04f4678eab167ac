// The module's entry: descriptor and hook table for the Taxonomy class.
#include "taxonomy.hpp"

POSTHOG_PLUGIN(posthog::plugins::Taxonomy)
