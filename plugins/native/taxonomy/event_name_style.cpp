#include "event_name_style.hpp"

#include <vector>

namespace posthog::plugins::taxonomy {
namespace {

bool upper(char c) noexcept { return c >= 'A' && c <= 'Z'; }
bool lower(char c) noexcept { return c >= 'a' && c <= 'z'; }
bool digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool separator(char c) noexcept { return c == ' ' || c == '_' || c == '-' || c == '\t'; }
char to_upper(char c) noexcept { return lower(c) ? static_cast<char>(c - 'a' + 'A') : c; }
char to_lower(char c) noexcept { return upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

// Calls `word` for each word of the name, in order.
template <class Fn>
void for_each_word(std::string_view s, Fn&& word) {
  std::size_t start = std::string_view::npos;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    bool boundary = i == s.size() || separator(s[i]);
    bool starts_word = false;
    if (!boundary && start != std::string_view::npos && upper(s[i])) {
      char const prev = s[i - 1];
      bool const next_lower = i + 1 < s.size() && lower(s[i + 1]);
      // "signedUp": lower or digit then upper; "HTTPRequest": the R of an acronym's end.
      starts_word = lower(prev) || digit(prev) || (upper(prev) && next_lower);
    }
    if ((boundary || starts_word) && start != std::string_view::npos) {
      word(s.substr(start, i - start));
      start = std::string_view::npos;
    }
    if (!boundary && start == std::string_view::npos) start = i;
  }
}

}  // namespace

std::optional<Style> style_named(std::string_view name) noexcept {
  if (name == "camelCase") return Style::camel;
  if (name == "PascalCase") return Style::pascal;
  if (name == "snake_case") return Style::snake;
  if (name == "kebab-case") return Style::kebab;
  if (name == "spaces in between") return Style::spaces;
  if (name == "Title Case") return Style::title;
  return std::nullopt;
}

std::string restyle(std::string_view name, Style style) {
  std::string out;
  out.reserve(name.size());
  bool first = true;
  for_each_word(name, [&](std::string_view w) {
    bool const capitalise = style == Style::pascal || style == Style::title || (style == Style::camel && !first);
    if (!first) {
      if (style == Style::snake) out += '_';
      else if (style == Style::kebab) out += '-';
      else if (style == Style::spaces || style == Style::title) out += ' ';
    }
    for (std::size_t i = 0; i < w.size(); ++i) out += i == 0 && capitalise ? to_upper(w[i]) : to_lower(w[i]);
    first = false;
  });
  return out.empty() ? std::string(name) : out;  // a name of separators only stays as it was
}

}  // namespace posthog::plugins::taxonomy
