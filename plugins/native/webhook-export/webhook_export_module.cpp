// The module's entry: descriptor and hook table for the WebhookExport class.
#include "webhook_export.hpp"

POSTHOG_PLUGIN(posthog::plugins::WebhookExport)
