// Reads a module's descriptor section straight from its ELF file, so that a
// module is checked before the dynamic loader runs any of its code (static
// constructors included). Like `readelf -x .posthog_plugin`, with bounds checks.
#pragma once

#include <string>
#include <vector>

namespace posthog::server {

// The bytes of `section` in the ELF shared object at `path`.
// Throws LoadError at step file (unreadable), elf (not a shared object for this
// machine) or descriptor (no such section).
std::vector<unsigned char> read_elf_section(const std::string& path, const char* section);

}  // namespace posthog::server
