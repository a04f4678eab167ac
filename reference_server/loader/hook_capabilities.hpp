// A module's capability bits against its hook table (abi.h's rule that they
// say the same thing).
//
// The SDK derives both from one class, but separately: the bits from concepts,
// the table from the adapters it fills in. The server routes work by the table
// (a process_event slot puts the module in the chain) and decides behaviour by
// the bits (PROCESS_EVENT_NOEXCEPT skips the undo snapshot, EXPORT_EVENTS adds
// the export settings to the schema), so a module whose two disagree would be
// run by rules it did not ask for. The loader refuses it, naming each hook.
#pragma once

#include <posthog/abi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace posthog::server {

// True when the hook at `member` fits in the table's declared size and is set.
template <class Fn>
bool hook_present(const posthog_plugin_vtable& table, Fn posthog_plugin_vtable::*member) noexcept {
  auto const offset = reinterpret_cast<std::size_t>(&(static_cast<posthog_plugin_vtable*>(nullptr)->*member));
  return offset + sizeof(Fn) <= table.size && table.*member != nullptr;
}

// One line per hook on which `capabilities` and `table` disagree (none: they
// agree). `declared_metrics` is how many metrics the table's declared_metrics
// named: METRICS has no slot of its own, since the SDK always fills that one.
std::vector<std::string> capability_disagreements(std::uint64_t capabilities, const posthog_plugin_vtable& table,
                                                  std::size_t declared_metrics);

}  // namespace posthog::server
