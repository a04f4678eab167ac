// PluginStorage: the store behind `meta.storage`, persistent JSON values per
// (team, plugin). Keys arrive already scoped by PluginScope. MemoryStorage is the
// in-process backend; the embedded durable (SQLite) and Redis backends implement
// the same interface.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace posthog::server {

class PluginStorage {
 public:
  virtual ~PluginStorage() = default;
  virtual std::optional<std::string> get(std::string_view key) = 0;
  virtual void set(std::string_view key, std::string_view json) = 0;
  virtual bool del(std::string_view key) = 0;
};

class MemoryStorage final : public PluginStorage {
 public:
  std::optional<std::string> get(std::string_view key) override {
    std::lock_guard lock(mutex_);
    auto it = values_.find(std::string(key));
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  void set(std::string_view key, std::string_view json) override {
    std::lock_guard lock(mutex_);
    values_[std::string(key)] = std::string(json);
  }
  bool del(std::string_view key) override {
    std::lock_guard lock(mutex_);
    return values_.erase(std::string(key)) > 0;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> values_;
};

}  // namespace posthog::server
