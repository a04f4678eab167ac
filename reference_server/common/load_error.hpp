// LoadError: why a plugin module, instance or team copy was refused.
//
// Every refusal names the file, the step at which it stopped and, one line per
// field, what the server has, what the module has, and how to fix it. The server
// keeps running every other plugin; the error goes to the log and the admin API.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace posthog::server {

enum class LoadStep {
  file,            // cannot read the file
  elf,             // not an ELF shared object for this machine
  descriptor,      // no descriptor section, or a field of it cannot be trusted
  dlopen,          // the dynamic loader refused it (missing library, undefined symbol)
  entry_symbol,    // an exported entry point is missing
  manifest,        // plugin.json embedded in the module is invalid
  capabilities,    // the descriptor's capability bits and the hook table name different hooks
  setup_instance,  // the plugin's instance setup threw
  team_config,     // a team's config does not satisfy the manifest's schema
  setup_team,      // the plugin's per-team setup threw
};

const char* to_string(LoadStep step) noexcept;

class LoadError : public std::runtime_error {
 public:
  LoadError(std::string file, LoadStep step, std::vector<std::string> details, std::string field = {});

  const std::string& file() const noexcept { return file_; }
  LoadStep step() const noexcept { return step_; }
  const std::vector<std::string>& details() const noexcept { return details_; }
  const std::string& field() const noexcept { return field_; }  // config field at fault, if any

 private:
  std::string file_;
  LoadStep step_;
  std::vector<std::string> details_;
  std::string field_;
};

}  // namespace posthog::server
