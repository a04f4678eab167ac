#include "json_lines.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace posthog::server {
namespace {

// Writes through a cursor into a JsonBuffer: each byte costs a store, not a
// push_back's capacity check.
class Writer {
 public:
  explicit Writer(JsonBuffer& out) : out_(out) {}

  void put(char c) { *room(1) = c, out_.commit(1); }
  void put(const char* data, std::size_t n) {
    std::memcpy(room(n), data, n);
    out_.commit(n);
  }

  void string(std::string_view s);
  void value(const boost::json::value& v);
  void object(const boost::json::object& o);
  void event(const boost::json::object& o, const PropertiesTail& tail);

 private:
  char* room(std::size_t n) { return out_.reserve(n); }
  template <class Number>
  void number(Number n) {
    char* const at = room(32);
    out_.commit(static_cast<std::size_t>(std::to_chars(at, at + 32, n).ptr - at));
  }

  JsonBuffer& out_;
};

// True when any of the 8 bytes of `w` is a control character, '"' or '\\'
// (the classic "has a byte less than n" / "has a zero byte" word tricks).
constexpr bool word_needs_escape(std::uint64_t w) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  auto has_zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
  std::uint64_t const controls = (w - ones * 0x20) & ~w & highs;
  return controls | has_zero(w ^ (ones * '"')) | has_zero(w ^ (ones * '\\'));
}

constexpr bool needs_escape(unsigned char c) noexcept { return c < 0x20 || c == '"' || c == '\\'; }

void Writer::string(std::string_view s) {
  put('"');
  // Most strings need no escape at all: check them eight bytes at a time.
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (word_needs_escape(w)) break;
  }
  while (i < s.size() && !needs_escape(static_cast<unsigned char>(s[i]))) ++i;
  put(s.data(), i);
  for (std::size_t start = i; i <= s.size(); ++i) {
    if (i < s.size() && !needs_escape(static_cast<unsigned char>(s[i]))) continue;
    put(s.data() + start, i - start);
    start = i + 1;
    if (i == s.size()) break;
    switch (auto const c = static_cast<unsigned char>(s[i])) {
      case '"': put("\\\"", 2); break;
      case '\\': put("\\\\", 2); break;
      case '\n': put("\\n", 2); break;
      case '\r': put("\\r", 2); break;
      case '\t': put("\\t", 2); break;
      case '\b': put("\\b", 2); break;
      case '\f': put("\\f", 2); break;
      default: {
        static constexpr char hex[] = "0123456789abcdef";
        char const u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        put(u, sizeof u);
      }
    }
  }
  put('"');
}

void Writer::object(const boost::json::object& o) {
  put('{');
  bool first = true;
  for (auto const& kv : o) {
    if (!first) put(',');
    first = false;
    string(kv.key());
    put(':');
    value(kv.value());
  }
  put('}');
}

void Writer::event(const boost::json::object& o, const PropertiesTail& tail) {
  auto replaced = [&](std::string_view key) {
    for (std::size_t i = 0; i < tail.replaced_count; ++i)
      if (tail.replaced[i] == key) return true;
    return false;
  };
  put('{');
  bool first = true, had_properties = false;
  for (auto const& kv : o) {
    if (!first) put(',');
    first = false;
    string(kv.key());
    put(':');
    if (kv.key() != "properties" || !kv.value().is_object()) {
      value(kv.value());
      continue;
    }
    had_properties = true;
    put('{');
    bool first_property = true;
    for (auto const& p : kv.value().get_object()) {
      if (replaced(p.key())) continue;
      if (!first_property) put(',');
      first_property = false;
      string(p.key());
      put(':');
      value(p.value());
    }
    if (!first_property) put(',');
    tail.write(tail.context, out_);
    put('}');
  }
  if (!had_properties) {
    put(first ? "\"properties\":{" : ",\"properties\":{", first ? 14 : 15);
    tail.write(tail.context, out_);
    put('}');
  }
  put('}');
}

void Writer::value(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: put("null", 4); break;
    case boost::json::kind::bool_: v.get_bool() ? put("true", 4) : put("false", 5); break;
    case boost::json::kind::int64: number(v.get_int64()); break;
    case boost::json::kind::uint64: number(v.get_uint64()); break;
    case boost::json::kind::double_:
      // JSON has no NaN or infinity; JSON.stringify writes null for them.
      if (std::isfinite(v.get_double())) number(v.get_double());
      else put("null", 4);
      break;
    case boost::json::kind::string: string(v.get_string()); break;
    case boost::json::kind::array: {
      put('[');
      bool first = true;
      for (auto const& e : v.get_array()) {
        if (!first) put(',');
        first = false;
        value(e);
      }
      put(']');
      break;
    }
    case boost::json::kind::object: object(v.get_object()); break;
  }
}

}  // namespace

void JsonBuffer::grow(std::size_t needed) {
  std::size_t const capacity = std::max({needed, capacity_ * 2, std::size_t(4096)});
  std::unique_ptr<char[]> data(new char[capacity]);
  if (size_) std::memcpy(data.get(), data_.get(), size_);
  data_ = std::move(data);
  capacity_ = capacity;
}

void append_json_line(JsonBuffer& out, const boost::json::object& object) {
  Writer w(out);
  w.object(object);
  w.put('\n');
}

void append_json_line(JsonBuffer& out, const boost::json::object& event, const PropertiesTail& tail) {
  Writer w(out);
  w.event(event, tail);
  w.put('\n');
}

void append_json_string(JsonBuffer& out, std::string_view s) { Writer(out).string(s); }

void append_json(std::string& out, const boost::json::value& value) {
  thread_local JsonBuffer buffer;
  buffer.clear();
  Writer(buffer).value(value);
  out.append(buffer.view());
}

void append_json_line(std::string& out, const boost::json::object& object) {
  thread_local JsonBuffer buffer;
  buffer.clear();
  append_json_line(buffer, object);
  out.append(buffer.view());
}

}  // namespace posthog::server
