#include "load_error.hpp"

namespace posthog::server {

const char* to_string(LoadStep step) noexcept {
  switch (step) {
    case LoadStep::file: return "file";
    case LoadStep::elf: return "elf";
    case LoadStep::descriptor: return "descriptor";
    case LoadStep::dlopen: return "dlopen";
    case LoadStep::entry_symbol: return "entry_symbol";
    case LoadStep::manifest: return "manifest";
    case LoadStep::capabilities: return "capabilities";
    case LoadStep::setup_instance: return "setup_instance";
    case LoadStep::team_config: return "team_config";
    case LoadStep::setup_team: return "setup_team";
  }
  return "unknown";
}

namespace {
std::string message(const std::string& file, LoadStep step, const std::vector<std::string>& details) {
  std::string m = file + ": refused at " + to_string(step);
  for (auto const& d : details) m += "\n  " + d;
  return m;
}
}  // namespace

LoadError::LoadError(std::string file, LoadStep step, std::vector<std::string> details, std::string field)
    : std::runtime_error(message(file, step, details)),
      file_(std::move(file)),
      step_(step),
      details_(std::move(details)),
      field_(std::move(field)) {}

}  // namespace posthog::server
