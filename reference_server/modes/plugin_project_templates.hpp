// The files `posthog-plugin-server new` writes (new_plugin_project.hpp), as
// templates: @NAME@ is the plugin's name (my-plugin), @CLASS@ its class
// (MyPlugin), @FILE@ the stem of its file names (my_plugin).
#pragma once

#include <span>
#include <string_view>

namespace posthog::server {

struct ProjectTemplate {
  std::string_view path;  // inside the project, may hold markers
  std::string_view text;
};

std::span<const ProjectTemplate> plugin_project_templates() noexcept;

}  // namespace posthog::server
