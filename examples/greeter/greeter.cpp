#include "greeter.hpp"

POSTHOG_PLUGIN(Greeter)
