#include "plugin_attachments.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <stdexcept>

#include "plugin_storage.hpp"

namespace posthog::server {
namespace {

std::string storage_key(std::int64_t team_id, std::string_view plugin, std::string_view key) {
  return "@attachment/" + std::string(plugin) + "/" + std::to_string(team_id) + "/" + std::string(key);
}

}  // namespace

void PluginAttachments::put(std::int64_t team_id, std::string_view plugin, std::string_view key,
                            const StoredAttachment& a) {
  if (a.contents.size() > max_bytes)
    throw std::invalid_argument("an attachment may hold " + std::to_string(max_bytes) + " bytes at most");
  std::string value = boost::json::serialize(boost::json::object{{"file_name", a.file_name},
                                                                 {"content_type", a.content_type},
                                                                 {"size", a.contents.size()},
                                                                 {"uploaded_at", a.uploaded_at_ms}});
  value += '\n';  // the serialiser escapes control characters: the header is one line
  value += a.contents;
  storage_.set(storage_key(team_id, plugin, key), value);
}

std::optional<StoredAttachment> PluginAttachments::get(std::int64_t team_id, std::string_view plugin,
                                                       std::string_view key) {
  auto const value = storage_.get(storage_key(team_id, plugin, key));
  if (!value) return std::nullopt;
  auto const newline = value->find('\n');
  boost::system::error_code ec;
  auto header = boost::json::parse(std::string_view(*value).substr(0, newline), ec);
  if (newline == std::string::npos || ec || !header.is_object())
    throw std::runtime_error("the stored attachment '" + std::string(key) + "' of " + std::string(plugin) +
                             " for team " + std::to_string(team_id) + " cannot be read back");
  auto const& h = header.get_object();
  auto text = [&](const char* k) {
    auto const* v = h.if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  StoredAttachment a{text("file_name"), text("content_type"), value->substr(newline + 1), 0, 0};
  a.size = a.contents.size();
  if (auto const* at = h.if_contains("uploaded_at"); at && at->is_int64()) a.uploaded_at_ms = at->get_int64();
  return a;
}

bool PluginAttachments::remove(std::int64_t team_id, std::string_view plugin, std::string_view key) {
  return storage_.del(storage_key(team_id, plugin, key));
}

std::optional<std::string> PluginAttachments::raw(std::int64_t team_id, std::string_view plugin, std::string_view key) {
  return storage_.get(storage_key(team_id, plugin, key));
}

void PluginAttachments::restore(std::int64_t team_id, std::string_view plugin, std::string_view key,
                                const std::optional<std::string>& raw) {
  if (raw) storage_.set(storage_key(team_id, plugin, key), *raw);
  else storage_.del(storage_key(team_id, plugin, key));
}

}  // namespace posthog::server
