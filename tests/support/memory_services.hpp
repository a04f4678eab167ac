// MemoryServices: the in-memory stores behind `meta` for tests that build
// chains or team copies without a server around them.
#pragma once

#include "host/plugin_scope.hpp"
#include "stores/memory_cache.hpp"
#include "common/plugin_log.hpp"
#include "stores/plugin_storage.hpp"

namespace posthog::testing {

struct MemoryServices {
  server::MemoryCache cache;
  server::MemoryStorage storage;
  server::PluginLog log;
  server::HostServices host{&cache, &storage, &log, nullptr};
};

}  // namespace posthog::testing
