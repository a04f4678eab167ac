// The admin console's files (admin/console/*.html, *.js, *.css), built into
// the binary: a CMake step (embed_console_assets.cmake) turns each file into
// a byte array of a generated source, so the server needs nothing installed
// beside it and fetches nothing at run time. Editing a file rebuilds only that
// generated unit.
#pragma once

#include <span>
#include <string_view>

namespace posthog::server {

struct ConsoleAsset {
  std::string_view name;          // the file's name in admin/console/
  std::string_view content_type;  // from its extension
  std::string_view body;
};

// Every file, sorted by name. Defined in the generated unit.
std::span<const ConsoleAsset> console_assets() noexcept;

}  // namespace posthog::server
