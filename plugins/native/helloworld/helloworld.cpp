#include "helloworld.hpp"

POSTHOG_PLUGIN(posthog::plugins::HelloWorld)
