// PluginAttachments: files uploaded for a team's `attachment` config fields,
// PostHog's posthog_pluginattachment rows ({content_type, file_name,
// contents} per plugin config and key), kept with plugin storage: in the
// embedded store, or in Redis where every server of a cluster reads them.
//
// Each lives under "@attachment/<plugin>/<team>/<key>", a key no plugin can
// name (PluginScope prefixes every plugin key with "@plugin/"), as one value:
// a JSON line {"file_name", "content_type", "size", "uploaded_at"} and the
// bytes after it, so binary contents need no encoding.
//
//   PluginAttachments attachments(storage);
//   attachments.put(2, "geoip", "database", {"city.mmdb", "application/octet-stream", bytes});
//   auto a = attachments.get(2, "geoip", "database");
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace posthog::server {

class PluginStorage;

struct StoredAttachment {
  std::string file_name;
  std::string content_type;
  std::string contents;
  std::size_t size = 0;  // of the contents; what a metadata read gives without them
  std::int64_t uploaded_at_ms = 0;
};

class PluginAttachments {
 public:
  static constexpr std::size_t max_bytes = 16 << 20;

  explicit PluginAttachments(PluginStorage& storage) : storage_(storage) {}

  void put(std::int64_t team_id, std::string_view plugin, std::string_view key, const StoredAttachment& a);
  // With its contents; nullopt when none was uploaded.
  std::optional<StoredAttachment> get(std::int64_t team_id, std::string_view plugin, std::string_view key);
  bool remove(std::int64_t team_id, std::string_view plugin, std::string_view key);
  // The stored value as it is, and back (an admin change undone after its set-up failed).
  std::optional<std::string> raw(std::int64_t team_id, std::string_view plugin, std::string_view key);
  void restore(std::int64_t team_id, std::string_view plugin, std::string_view key, const std::optional<std::string>& raw);

 private:
  PluginStorage& storage_;
};

}  // namespace posthog::server
