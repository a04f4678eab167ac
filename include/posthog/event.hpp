// posthog/event.hpp: the PostHog event, as a typed view over the server's JSON.
//
// An Event does not own or copy anything: it points at the boost::json::object
// the server parsed once, so every plugin of a chain reads and writes the same
// memory. Field names follow PostHog's PluginEvent (uuid, team_id, distinct_id,
// event, ip, site_url, now, sent_at, timestamp, properties, $set, $set_once).
// team_id is read-only: the server restores it and records an error if a plugin
// changes it through raw().
//
//   bool process_event(posthog::Event& event, posthog::Meta&) {
//     if (event.name() == "$pageleave") return false;       // drop it
//     event.properties()["hello"] = "world";                // write in place
//     if (auto plan = event.property_string("plan")) { ... } // typed read
//     return true;
//   }
//
// Strings returned as std::string_view stay valid until the event is modified.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string_view>

namespace posthog {

class Event {
 public:
  explicit Event(boost::json::object& object) noexcept : object_(&object) {}

  // Top-level string fields; empty when absent or not a string.
  std::string_view uuid() const noexcept { return string_field("uuid"); }
  std::string_view distinct_id() const noexcept { return string_field("distinct_id"); }
  std::string_view name() const noexcept { return string_field("event"); }
  std::string_view ip() const noexcept { return string_field("ip"); }
  std::string_view site_url() const noexcept { return string_field("site_url"); }
  std::string_view now() const noexcept { return string_field("now"); }
  std::string_view sent_at() const noexcept { return string_field("sent_at"); }
  std::string_view timestamp() const noexcept { return string_field("timestamp"); }

  std::optional<std::int64_t> team_id() const noexcept {
    if (auto const* v = object_->if_contains("team_id"); v && v->is_int64()) return v->get_int64();
    if (auto const* v = object_->if_contains("team_id"); v && v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
    return std::nullopt;
  }

  void set_name(std::string_view name) { (*object_)["event"] = name; }
  void set_distinct_id(std::string_view id) { (*object_)["distinct_id"] = id; }
  void set_timestamp(std::string_view iso8601) { (*object_)["timestamp"] = iso8601; }

  // properties, $set and $set_once, created as empty objects on first write.
  boost::json::object& properties() { return object_field("properties"); }
  boost::json::object& set() { return object_field("$set"); }
  boost::json::object& set_once() { return object_field("$set_once"); }
  // Read-only access: nullptr when absent.
  const boost::json::object* properties() const noexcept { return find_object("properties"); }
  const boost::json::object* set() const noexcept { return find_object("$set"); }
  const boost::json::object* set_once() const noexcept { return find_object("$set_once"); }

  // properties[key], or nullptr when there are no properties or no such key.
  const boost::json::value* property(std::string_view key) const noexcept {
    auto const* props = find_object("properties");
    return props ? props->if_contains(key) : nullptr;
  }
  std::optional<std::string_view> property_string(std::string_view key) const noexcept {
    auto const* v = property(key);
    if (v && v->is_string()) return std::string_view(v->get_string());
    return std::nullopt;
  }

  // The whole event. Writing team_id through it is refused by the server.
  boost::json::object& raw() noexcept { return *object_; }
  const boost::json::object& raw() const noexcept { return *object_; }

 private:
  std::string_view string_field(std::string_view key) const noexcept {
    auto const* v = object_->if_contains(key);
    return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
  }
  const boost::json::object* find_object(std::string_view key) const noexcept {
    auto const* v = object_->if_contains(key);
    return v ? v->if_object() : nullptr;
  }
  boost::json::object& object_field(std::string_view key) {
    boost::json::value& v = (*object_)[key];
    if (!v.is_object()) v.emplace_object();
    return v.get_object();
  }

  boost::json::object* object_;
};

}  // namespace posthog
