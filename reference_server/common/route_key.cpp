#include "route_key.hpp"

#include <cstring>

namespace posthog::server {
namespace {

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

struct Cursor {
  const char* p;
  const char* end;

  void skip_space() noexcept {
    while (p < end && is_space(*p)) ++p;
  }
  // At an opening quote: moves past the closing one; returns the contents.
  std::optional<std::string_view> string() noexcept {
    const char* const begin = ++p;
    for (;;) {
      auto const* q = static_cast<const char*>(std::memchr(p, '"', static_cast<std::size_t>(end - p)));
      if (!q) return std::nullopt;
      // The quote is escaped when an odd number of backslashes precede it.
      const char* s = q;
      while (s > begin && s[-1] == '\\') --s;
      p = q + 1;
      if ((q - s) % 2 == 0) return std::string_view(begin, static_cast<std::size_t>(q - begin));
    }
  }
  // Skips any value; returns its raw bytes (for a string, without the quotes).
  std::optional<std::string_view> value() noexcept {
    skip_space();
    if (p >= end) return std::nullopt;
    if (*p == '"') return string();
    const char* const begin = p;
    if (*p == '{' || *p == '[') {
      int depth = 0;
      while (p < end) {
        char const c = *p;
        if (c == '"') {
          if (!string()) return std::nullopt;
          continue;
        }
        ++p;
        if (c == '{' || c == '[') ++depth;
        else if ((c == '}' || c == ']') && --depth == 0) return std::string_view(begin, static_cast<std::size_t>(p - begin));
      }
      return std::nullopt;
    }
    while (p < end && *p != ',' && *p != '}' && !is_space(*p)) ++p;  // number, true, false, null
    if (p == begin) return std::nullopt;
    return std::string_view(begin, static_cast<std::size_t>(p - begin));
  }
};

}  // namespace

std::optional<std::string_view> top_level_value(std::string_view json, std::string_view key) noexcept {
  Cursor c{json.data(), json.data() + json.size()};
  c.skip_space();
  if (c.p >= c.end || *c.p != '{') return std::nullopt;
  ++c.p;
  for (;;) {
    c.skip_space();
    if (c.p >= c.end || *c.p != '"') return std::nullopt;  // also the end of an object: key absent
    auto name = c.string();
    if (!name) return std::nullopt;
    c.skip_space();
    if (c.p >= c.end || *c.p != ':') return std::nullopt;
    ++c.p;
    auto v = c.value();
    if (!v) return std::nullopt;
    if (*name == key) return v;
    c.skip_space();
    if (c.p >= c.end || *c.p != ',') return std::nullopt;
    ++c.p;
  }
}

}  // namespace posthog::server
