// The module's entry: descriptor and hook table for the PosthogReplicator class.
#include "posthog_replicator.hpp"

POSTHOG_PLUGIN(posthog::plugins::PosthogReplicator)
