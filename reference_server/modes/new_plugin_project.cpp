#include "new_plugin_project.hpp"

#include <fstream>
#include <iostream>
#include <stdexcept>
#include <system_error>

#include "plugin_project_templates.hpp"

namespace posthog::server {
namespace {

// A plugin's name is its module's file name, its CMake target and what teams
// name in their chains: lower-case letters, digits and dashes keep it the same
// everywhere (PostHog's plugin names looked like this too).
void check_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 && name.front() >= 'a' && name.front() <= 'z' && name.back() != '-';
  for (char c : name) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (!ok)
    throw std::invalid_argument("'" + std::string(name) +
                                "' cannot name a plugin: use 1 to 64 lower-case letters, digits and dashes, "
                                "starting with a letter and not ending with a dash (like my-plugin)");
}

// my-plugin -> MyPlugin (the class), my_plugin (file names).
std::string class_name(std::string_view name) {
  std::string out;
  bool upper = true;
  for (char c : name) {
    if (c == '-') {
      upper = true;
      continue;
    }
    out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  return out;
}

std::string file_stem(std::string_view name) {
  std::string out(name);
  for (auto& c : out)
    if (c == '-') c = '_';
  return out;
}

std::string filled(std::string_view text, std::string_view name) {
  std::string const values[][2] = {{"@NAME@", std::string(name)}, {"@CLASS@", class_name(name)},
                                   {"@FILE@", file_stem(name)}};
  std::string out(text);
  for (auto const& [marker, value] : values)
    for (auto at = out.find(marker); at != std::string::npos; at = out.find(marker, at + value.size()))
      out.replace(at, marker.size(), value);
  return out;
}

}  // namespace

std::map<std::string, std::string> plugin_project_files(std::string_view name) {
  check_name(name);
  std::map<std::string, std::string> files;
  for (auto const& t : plugin_project_templates()) files[filled(t.path, name)] = filled(t.text, name);
  return files;
}

int write_plugin_project(std::string_view name, const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  try {
    files = plugin_project_files(name);
  } catch (const std::invalid_argument& e) {
    std::cerr << "new: " << e.what() << "\n";
    return 2;
  }
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec)) {
    std::cerr << "new: " << dir.string() << " is not empty: give a new folder, or an empty one\n";
    return 1;
  }
  for (auto const& [path, text] : files) {
    auto const file = dir / path;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) {
      std::cerr << "new: cannot make " << file.parent_path().string() << ": " << ec.message() << "\n";
      return 1;
    }
    std::ofstream out(file, std::ios::binary);
    out << text;
    out.close();
    if (!out) {
      std::cerr << "new: cannot write " << file.string() << "\n";
      return 1;
    }
  }
  std::cout << "wrote the plugin project '" << name << "' in " << dir.string() << ":\n";
  for (auto const& [path, text] : files) std::cout << "  " << path << "\n";
  std::cout << "next: see " << (dir / "README.md").string() << " (build, test, run through the server)\n";
  return 0;
}

}  // namespace posthog::server
