// StoreFailure: a store the server depends on failed (the embedded database,
// Redis out of reach or answering with an error). What the plugin host needs
// to tell "the server's store failed" from "the plugin failed", without
// knowing which stores exist: each store's own error derives from it.
#pragma once

#include <stdexcept>

namespace posthog::server {

class StoreFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace posthog::server
