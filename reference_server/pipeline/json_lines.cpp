#include "json_lines.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace posthog::server {
namespace {

// Characters a JSON string must escape: the quote, the backslash and controls.
constexpr bool needs_escape(unsigned char c) noexcept { return c < 0x20 || c == '"' || c == '\\'; }

// True when any of the 8 bytes of `w` is a control character, '"' or '\\'
// (the classic "has a byte less than n" / "has a zero byte" word tricks).
constexpr bool word_needs_escape(std::uint64_t w) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  auto has_zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
  std::uint64_t const controls = (w - ones * 0x20) & ~w & highs;
  return controls | has_zero(w ^ (ones * '"')) | has_zero(w ^ (ones * '\\'));
}

void append_string(std::string& out, std::string_view s) {
  out.push_back('"');
  std::size_t start = 0, i = 0;
  // Most strings need no escape at all: skip them eight bytes at a time.
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (word_needs_escape(w)) break;
  }
  for (; i < s.size(); ++i) {
    auto const c = static_cast<unsigned char>(s[i]);
    if (!needs_escape(c)) continue;
    out.append(s.data() + start, i - start);
    start = i + 1;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      default: {
        static constexpr char hex[] = "0123456789abcdef";
        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        out.append(u, sizeof u);
      }
    }
  }
  out.append(s.data() + start, s.size() - start);
  out.push_back('"');
}

template <class Number>
void append_number(std::string& out, Number n) {
  char buf[32];
  auto const r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

void append_double(std::string& out, double d) {
  // JSON has no NaN or infinity; JSON.stringify writes null for them.
  if (!std::isfinite(d)) return out.append("null"), void();
  append_number(out, d);
}

void append_value(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: out.append("null"); break;
    case boost::json::kind::bool_: out.append(v.get_bool() ? "true" : "false"); break;
    case boost::json::kind::int64: append_number(out, v.get_int64()); break;
    case boost::json::kind::uint64: append_number(out, v.get_uint64()); break;
    case boost::json::kind::double_: append_double(out, v.get_double()); break;
    case boost::json::kind::string: append_string(out, v.get_string()); break;
    case boost::json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (auto const& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        append_value(out, e);
      }
      out.push_back(']');
      break;
    }
    case boost::json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (auto const& kv : v.get_object()) {
        if (!first) out.push_back(',');
        first = false;
        append_string(out, kv.key());
        out.push_back(':');
        append_value(out, kv.value());
      }
      out.push_back('}');
      break;
    }
  }
}

}  // namespace

void append_json(std::string& out, const boost::json::value& value) { append_value(out, value); }

void append_json_line(std::string& out, const boost::json::object& object) {
  out.push_back('{');
  bool first = true;
  for (auto const& kv : object) {
    if (!first) out.push_back(',');
    first = false;
    append_string(out, kv.key());
    out.push_back(':');
    append_value(out, kv.value());
  }
  out.append("}\n");
}

}  // namespace posthog::server
