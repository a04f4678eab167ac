// The module's entry: descriptor and hook table for the CurrencyNormalizer class.
#include "currency_normalizer.hpp"

POSTHOG_PLUGIN(posthog::plugins::CurrencyNormalizer)
