// Decoding and checking a module's descriptor (posthog/abi.h) against this
// server's build, field by field, in the order of PostgreSQL's PG_MODULE_MAGIC
// check: size and magic first (nothing after them can be trusted otherwise),
// then the ABI version, then every fingerprint field, each mismatch on its own
// line saying what the server has, what the module has and how to fix it.
#pragma once

#include <posthog/abi.h>

#include <boost/json/object.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace posthog::server {

struct ModuleDescriptor {
  posthog_plugin_descriptor header{};
  std::string name;
  std::string version;
  std::string manifest;  // plugin.json text

  boost::json::object to_json() const;  // for `inspect` and the admin API
};

// Throws LoadError(step descriptor) when the module must be refused.
ModuleDescriptor decode_descriptor(const std::string& file, std::span<const unsigned char> bytes);

std::string describe(const posthog_build_fingerprint& f);
std::vector<std::string> capability_list(std::uint64_t capabilities);

}  // namespace posthog::server
