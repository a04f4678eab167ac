#include "property_filter.hpp"

namespace posthog::plugins {
namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Removes the dotted path from the object; missing levels mean nothing to do.
void remove_path(boost::json::object& root, std::string_view path) noexcept {
  boost::json::object* at = &root;
  for (auto dot = path.find('.'); dot != std::string_view::npos; dot = path.find('.')) {
    auto* next = at->if_contains(path.substr(0, dot));
    if (!next || !next->is_object()) return;
    at = &next->get_object();
    path.remove_prefix(dot + 1);
  }
  at->erase(path);
}

bool under(std::string_view path, std::string_view top) noexcept {
  return path.size() > top.size() && path.substr(0, top.size()) == top && path[top.size()] == '.';
}

}  // namespace

PropertyFilter::PropertyFilter(posthog::TeamContext& team) {
  std::string_view list = team.config.string("properties");
  while (!list.empty()) {
    auto const comma = list.find(',');
    auto const path = trim(list.substr(0, comma));
    if (!path.empty()) {
      if (path.front() == '.' || path.back() == '.' || path.find("..") != std::string_view::npos)
        throw ConfigError("properties", "'" + std::string(path) + "' has an empty segment");
      paths_.emplace_back(path);
      removes_ip_ = removes_ip_ || path == "$ip";
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (paths_.empty()) throw ConfigError("properties", "names no property (a comma-separated list, like foo,bar)");
  paths_.shrink_to_fit();
}

bool PropertyFilter::process_event(posthog::Event& event, posthog::Meta&) noexcept {
  auto& raw = event.raw();
  if (removes_ip_) raw.erase("ip");
  auto* props = raw.if_contains("properties");
  for (auto const& path : paths_) {
    if (props && props->is_object()) remove_path(props->get_object(), path);
    // $set.x and $set_once.x also name the event's own person updates.
    if (under(path, "$set") || under(path, "$set_once")) remove_path(raw, path);
  }
  return true;
}

}  // namespace posthog::plugins
