// PluginStorage: the store behind `meta.storage`, persistent JSON values per
// (team, plugin). Keys arrive already scoped by PluginScope. MemoryStorage is the
// in-process backend; the embedded durable (SQLite) and Redis backends implement
// the same interface.
#pragma once

#include <charconv>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
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
  // PostHog's utils.cursor, on the same keys (storage.get reads a cursor):
  // sets `key` to `initial` unless it is set; adds `by` to it and returns the
  // result, atomically (an unset key counts from 0). Throws
  // std::invalid_argument when the value there is not a whole number.
  virtual void init_counter(std::string_view key, std::int64_t initial) = 0;
  virtual std::int64_t add_to_counter(std::string_view key, std::int64_t by) = 0;
};

// A counter's stored text as a number; invalid_argument when it is not one.
inline std::int64_t counter_value(std::string_view key, std::string_view text) {
  std::int64_t v = 0;
  auto const r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size())
    throw std::invalid_argument("utils.cursor: the value at '" + std::string(key) + "' is not a whole number");
  return v;
}
// a + b, or invalid_argument past the int64 range.
inline std::int64_t counter_sum(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) throw std::invalid_argument("utils.cursor: the counter would overflow");
  return out;
}

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
  void init_counter(std::string_view key, std::int64_t initial) override {
    std::lock_guard lock(mutex_);
    values_.emplace(std::string(key), std::to_string(initial));
  }
  std::int64_t add_to_counter(std::string_view key, std::int64_t by) override {
    std::lock_guard lock(mutex_);
    auto& text = values_[std::string(key)];
    auto const now = counter_sum(text.empty() ? 0 : counter_value(key, text), by);
    text = std::to_string(now);
    return now;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> values_;
};

}  // namespace posthog::server
