#include "payload_scan.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>  // part of every x86-64
#endif

#include <charconv>
#include <cstring>
#include <utility>

#include "capture_error.hpp"

namespace posthog::server {
namespace {

constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

// True when one of 8 bytes ends a plain run of string text: a quote, a
// backslash, a control character or a byte of a multi-byte character.
constexpr bool word_is_special(std::uint64_t w) noexcept {
  auto has_zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
  std::uint64_t const below_space = (w - ones * 0x20) & ~w & highs;
  return ((below_space | has_zero(w ^ (ones * '"')) | has_zero(w ^ (ones * '\\'))) | (w & highs)) != 0;
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

class Scanner {
 public:
  Scanner(std::string_view text, const PayloadLimits& limits)
      : text_(text), p_(text.data()), end_(text.data() + text.size()), limits_(limits) {
    containers_.reserve(16);
  }

  PayloadScan run() {
    skip_space();
    if (p_ == end_) fail("the body is empty");
    if (*p_ == '[') {
      scan_.shape = PayloadShape::event_array;
      events_depth_ = 1;
    } else if (*p_ == '{') {
      scan_.shape = PayloadShape::single_event;
      begin_event();
    } else {
      // JSON, but not a shape capture takes; or not JSON at all, which says where.
      if (*p_ == '"') scan_string();
      else if (*p_ == '-' || is_digit(*p_)) scan_number();
      else scan_literal();
      skip_space();
      if (p_ != end_) fail("unexpected text after the JSON value");
      throw CaptureError(400, "invalid_payload", "the body must be an event, an array of events or a batch object");
    }
    scan_values();
    skip_space();
    if (p_ != end_) fail("unexpected text after the JSON value");
    if (scan_.shape == PayloadShape::single_event) scan_.events.back().end = root_end_;
    return std::move(scan_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw CaptureError(400, "invalid_payload",
                       "malformed JSON at " + text_position(text_, offset()) + ": " + what);
  }
  std::size_t offset() const noexcept { return static_cast<std::size_t>(p_ - text_.data()); }

  void skip_space() noexcept {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  void expect(char c, const char* what) {
    skip_space();
    if (p_ == end_ || *p_ != c) fail(p_ == end_ ? "the text ends early" : what);
    ++p_;
  }

  // An element of the events array starts at p_.
  void begin_event() {
    if (scan_.events.size() == limits_.max_events)
      throw CaptureError(413, "too_many_events",
                         "the request has more than " + std::to_string(limits_.max_events) +
                             " events, the limit per request (serve.max_batch_events): send them in smaller batches");
    scan_.events.push_back(ScannedEvent{offset(), offset(), {}, {}});
    in_event_ = true;
    event_depth_ = containers_.size() + 1;  // the depth of its members, when it is an object
    properties_depth_ = 0;
  }
  void note_problem(std::string why) {
    if (in_event_ && scan_.events.back().problem.empty()) scan_.events.back().problem = std::move(why);
  }

  // The values of the whole document, without recursion: containers_ holds
  // whether each open container is an object.
  void scan_values() {
    for (;;) {
      // A value starts here.
      skip_space();
      if (p_ == end_) fail("the text ends early");
      bool const at_events = events_depth_ != 0 && containers_.size() == events_depth_ && events_open_;
      if (at_events) begin_event();
      if (in_event_) ++scan_.events.back().fields.values;
      // The member this value belongs to, when capture reads it.
      JsonValueRef* const root_field = std::exchange(pending_root_, nullptr);
      JsonValueRef* const event_field = std::exchange(pending_event_, nullptr);
      bool const properties = std::exchange(pending_properties_, false);
      char const c = *p_;
      if (c == '{' || c == '[') {
        if (containers_.size() == limits_.max_depth)
          throw CaptureError(400, "too_deep",
                             "the JSON is nested deeper than " + std::to_string(limits_.max_depth) + " levels at " +
                                 text_position(text_, offset()) + " (serve.max_json_depth)");
        for (auto* field : {root_field, event_field})
          if (field) *field = JsonValueRef{JsonValueRef::Kind::other, {}, false};
        if (at_events || (scan_.shape == PayloadShape::single_event && containers_.empty()))
          scan_.events.back().fields.object = c == '{';
        containers_.push_back(c == '{');
        if (properties && c == '{') properties_depth_ = containers_.size();
        if (pending_batch_) {  // the value of the root's "batch"
          if (c == '{') throw CaptureError(400, "invalid_payload", "\"batch\" must be an array of events");
          events_depth_ = 2;
          events_open_ = true;
          pending_batch_ = false;
        } else if (containers_.size() == 1 && c == '[') {
          events_open_ = true;
        }
        ++p_;
        skip_space();
        if (p_ < end_ && (*p_ == (c == '{' ? '}' : ']'))) {
          ++p_;
          if (!close_container()) return;
          continue_after_value();
          if (done_) return;
          continue;
        }
        if (c == '{') read_key();
        continue;
      }
      if (pending_batch_)
        throw CaptureError(400, "invalid_payload", "\"batch\" must be an array of events");
      JsonValueRef value;
      const char* const value_begin = p_;
      if (c == '"') {
        scan_string();
        value = {JsonValueRef::Kind::string, std::string_view(value_begin + 1, static_cast<std::size_t>(p_ - value_begin - 2)),
                 last_string_escaped_};
      } else if (c == '-' || is_digit(c)) {
        scan_number();
        value = {JsonValueRef::Kind::number, std::string_view(value_begin, static_cast<std::size_t>(p_ - value_begin)), false};
      } else {
        scan_literal();
        value.kind = c == 'n' ? JsonValueRef::Kind::null : JsonValueRef::Kind::other;
      }
      for (auto* field : {root_field, event_field})
        if (field) *field = value;
      if (at_events) end_event();
      continue_after_value();
      if (done_) return;
    }
  }

  // After a value: a comma (then the next key or element) or the end of its
  // container (then, again, after a value). Sets done_ when the root closed.
  void continue_after_value() {
    for (;;) {
      if (containers_.empty()) {
        done_ = true;
        return;
      }
      skip_space();
      if (p_ == end_) fail("the text ends early");
      bool const object = containers_.back();
      if (*p_ == ',') {
        ++p_;
        if (object) read_key();
        return;
      }
      if (*p_ == (object ? '}' : ']')) {
        ++p_;
        if (!close_container()) {
          done_ = true;
          return;
        }
        continue;
      }
      fail(object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }

  // Pops the container just closed; false when it was the root.
  bool close_container() {
    if (containers_.size() == properties_depth_) properties_depth_ = 0;
    bool const was_events = events_open_ && containers_.size() == events_depth_;
    containers_.pop_back();
    if (was_events) events_open_ = false;
    // An element of the events array that was a container ends with it.
    if (events_open_ && containers_.size() == events_depth_) end_event();
    if (containers_.empty()) {
      root_end_ = offset();
      return false;
    }
    return true;
  }

  void end_event() {
    scan_.events.back().end = offset();
    in_event_ = false;
  }

  // A member's key and its colon; the root's "batch" makes the request a
  // batch, and the members capture reads are noted for their values.
  void read_key() {
    skip_space();
    if (p_ == end_ || *p_ != '"') fail("expected a string key");
    const char* const key_begin = p_ + 1;
    scan_string();
    std::string_view key(key_begin, static_cast<std::size_t>(p_ - 1 - key_begin));
    std::string unescaped;
    if (last_string_escaped_) key = unescaped = json_unescape(key);
    expect(':', "expected ':' after a key");
    std::size_t const depth = containers_.size();
    if (in_event_) ++scan_.events.back().fields.members;
    if (depth == 1) {
      if (key == "api_key") pending_root_ = &scan_.api_key;
      else if (key == "token") pending_root_ = &scan_.token;
      else if (key == "sent_at") pending_root_ = &scan_.sent_at;
    }
    if (in_event_ && depth == event_depth_) {
      auto& f = scan_.events.back().fields;
      if (key == "event") pending_event_ = &f.event;
      else if (key == "distinct_id") pending_event_ = &f.distinct_id;
      else if (key == "$distinct_id") pending_event_ = &f.dollar_distinct_id;
      else if (key == "uuid") pending_event_ = &f.uuid;
      else if (key == "token") pending_event_ = &f.token;
      else if (key == "$token") pending_event_ = &f.dollar_token;
      else if (key == "api_key") pending_event_ = &f.api_key;
      else if (key == "properties") pending_properties_ = true;
    } else if (in_event_ && depth == properties_depth_) {
      auto& f = scan_.events.back().fields;
      if (key == "distinct_id") pending_event_ = &f.properties_distinct_id;
      else if (key == "token") pending_event_ = &f.properties_token;
    }
    if (depth == 1 && key == "batch") {
      if (saw_batch_) throw CaptureError(400, "invalid_payload", "the body has \"batch\" twice");
      saw_batch_ = true;
      scan_.shape = PayloadShape::batch;
      scan_.events.clear();  // the root is not an event after all
      in_event_ = false;
      pending_event_ = nullptr;
      pending_batch_ = true;
    }
  }

  void scan_string() {
    last_string_escaped_ = false;
    ++p_;  // the opening quote
    for (;;) {
#if defined(__SSE2__)
      // 16 bytes at a time: the first quote, backslash, control character or
      // byte of a multi-byte character (one signed compare finds the last two).
      while (end_ - p_ >= 16) {
        __m128i const v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p_));
        __m128i const special =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                         _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
        auto const mask = static_cast<unsigned>(_mm_movemask_epi8(special));
        if (mask) {
          p_ += __builtin_ctz(mask);
          break;
        }
        p_ += 16;
      }
#endif
      while (end_ - p_ >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p_, 8);
        if (word_is_special(w)) break;
        p_ += 8;
      }
      if (p_ == end_) fail("a string is not closed");
      auto const c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return;
      }
      if (c == '\\') {
        scan_escape();
      } else if (c < 0x20) {
        fail("a control character inside a string (escape it)");
      } else if (c >= 0x80) {
        scan_utf8();
      } else {
        ++p_;
      }
    }
  }

  unsigned read_hex4() {
    if (end_ - p_ < 4) fail("a \\u escape needs four hex digits");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      int const d = hex_digit(p_[i]);
      if (d < 0) fail("a \\u escape needs four hex digits");
      v = v << 4 | static_cast<unsigned>(d);
    }
    p_ += 4;
    return v;
  }

  void scan_escape() {
    last_string_escaped_ = true;
    ++p_;
    if (p_ == end_) fail("a string is not closed");
    char const e = *p_++;
    if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') return;
    if (e != 'u') {
      --p_;
      fail("an invalid escape in a string");
    }
    unsigned const unit = read_hex4();
    if (unit >= 0xdc00 && unit <= 0xdfff) fail("a \\u escape with a lone low surrogate");
    if (unit >= 0xd800 && unit <= 0xdbff) {
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') fail("a \\u escape with a lone high surrogate");
      p_ += 2;
      unsigned const low = read_hex4();
      if (low < 0xdc00 || low > 0xdfff) fail("a \\u escape with a lone high surrogate");
    }
  }

  // One multi-byte UTF-8 character: no overlong forms, no surrogates, at most U+10FFFF.
  void scan_utf8() {
    auto const* s = reinterpret_cast<const unsigned char*>(p_);
    auto const left = end_ - p_;
    auto cont = [&](int i) { return i < left && (s[i] & 0xc0) == 0x80; };
    unsigned const c = s[0];
    int n = 0;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) n = 3;
    else if (c >= 0xf0 && c <= 0xf4) n = 4;
    else fail("a string is not valid UTF-8");
    for (int i = 1; i < n; ++i)
      if (!cont(i)) fail("a string is not valid UTF-8");
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
      fail("a string is not valid UTF-8");
    p_ += n;
  }

  void scan_literal() {
    auto match = [&](std::string_view word) {
      if (static_cast<std::size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0) return false;
      p_ += word.size();
      return true;
    };
    if (!match("true") && !match("false") && !match("null")) fail("expected a value");
  }

  // JSON's number grammar, and whether the value survives as an int64,
  // uint64 or finite double (what the event type holds).
  void scan_number() {
    const char* const begin = p_;
    bool const negative = *p_ == '-';
    if (negative) ++p_;
    if (p_ == end_ || !is_digit(*p_)) fail("a number needs a digit");
    const char* const int_begin = p_;
    if (*p_ == '0') ++p_;
    else
      while (p_ < end_ && is_digit(*p_)) ++p_;
    auto const int_digits = static_cast<std::size_t>(p_ - int_begin);
    bool fraction = false, exponent = false;
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !is_digit(*p_)) fail("a number needs a digit after '.'");
      while (p_ < end_ && is_digit(*p_)) ++p_;
      fraction = true;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !is_digit(*p_)) fail("a number needs a digit in its exponent");
      while (p_ < end_ && is_digit(*p_)) ++p_;
      exponent = true;
    }
    std::string_view const number(begin, static_cast<std::size_t>(p_ - begin));
    if (!fraction && !exponent) {
      if (int_digits < 19) return;  // the common case: fits an int64
      std::string_view const digits(int_begin, int_digits);
      std::string_view const limit = negative ? "9223372036854775808" : "18446744073709551615";
      if (digits.size() < limit.size() || (digits.size() == limit.size() && digits <= limit)) return;
      note_problem("the integer " + shortened(number) + " is beyond 64 bits and would change value; send it as a string");
      return;
    }
    if (!exponent && int_digits < 300) return;  // a plain decimal cannot overflow a double
    double value = 0;
    auto const r = std::from_chars(begin, p_, value);
    if (r.ec == std::errc::result_out_of_range && !underflows(int_begin, p_)) {
      note_problem("the number " + shortened(number) + " is beyond the range of a double");
    }
  }

  // Out of range towards zero (1e-400 reads as 0, as any parser rounds) rather than infinity.
  static bool underflows(const char* digits, const char* end) {
    long exponent = 0, magnitude = 0;
    bool seen_nonzero = false;
    const char* p = digits;
    for (; p < end && is_digit(*p); ++p) {
      if (*p != '0') seen_nonzero = true;
      if (seen_nonzero) ++magnitude;
    }
    if (p < end && *p == '.') {
      for (++p; p < end && is_digit(*p); ++p) {
        if (*p != '0') {
          seen_nonzero = true;
          break;
        }
        if (!seen_nonzero) --magnitude;
      }
      while (p < end && is_digit(*p)) ++p;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
      ++p;
      bool const minus = *p == '-';
      if (*p == '-' || *p == '+') ++p;
      for (; p < end && is_digit(*p); ++p) exponent = exponent < 100'000'000 ? exponent * 10 + (*p - '0') : exponent;
      if (minus) exponent = -exponent;
    }
    return !seen_nonzero || magnitude + exponent <= 0;
  }

  static std::string shortened(std::string_view number) {
    return number.size() <= 40 ? std::string(number) : std::string(number.substr(0, 37)) + "...";
  }

  std::string_view text_;
  const char* p_;
  const char* end_;
  PayloadLimits limits_;
  PayloadScan scan_;
  std::vector<bool> containers_;   // true: an object
  std::size_t events_depth_ = 0;   // the events array's depth (1: the root, 2: "batch"), 0: none
  bool events_open_ = false;       // inside that array
  bool in_event_ = false;          // a number problem belongs to the last event
  bool pending_batch_ = false;     // the next value is the root's "batch"
  bool saw_batch_ = false;
  bool done_ = false;
  bool last_string_escaped_ = false;
  std::size_t event_depth_ = 0;       // the depth of the current event's members
  std::size_t properties_depth_ = 0;  // of its "properties" members, 0 when not inside
  JsonValueRef* pending_root_ = nullptr;   // the next value is this root member's
  JsonValueRef* pending_event_ = nullptr;  // ... or this event member's
  bool pending_properties_ = false;        // ... or the event's "properties"
  std::size_t root_end_ = 0;
};

}  // namespace

std::string json_unescape(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  auto hex4 = [&](std::size_t at) {
    unsigned v = 0;
    for (std::size_t i = at; i < at + 4 && i < raw.size(); ++i) v = v << 4 | static_cast<unsigned>(hex_digit(raw[i]) & 0xf);
    return v;
  };
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 >= raw.size()) {
      out += raw[i];
      continue;
    }
    char const e = raw[++i];
    switch (e) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        std::uint32_t cp = hex4(i + 1);
        i += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && i + 6 < raw.size() && raw.substr(i + 1, 2) == "\\u") {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(i + 3) - 0xdc00);
          i += 6;
        }
        if (cp < 0x80) {
          out += static_cast<char>(cp);
        } else if (cp < 0x800) {
          out += static_cast<char>(0xc0 | cp >> 6);
          out += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
          out += static_cast<char>(0xe0 | cp >> 12);
          out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
          out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
          out += static_cast<char>(0xf0 | cp >> 18);
          out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
          out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
          out += static_cast<char>(0x80 | (cp & 0x3f));
        }
        break;
      }
      default: out += e;  // '"', '\\', '/'
    }
  }
  return out;
}

std::string JsonValueRef::text() const {
  return kind == Kind::string && escaped ? json_unescape(raw) : std::string(raw);
}

std::string text_position(std::string_view text, std::size_t offset) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') ++line, column = 1;
    else ++column;
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

PayloadScan scan_payload(std::string_view json, const PayloadLimits& limits) {
  return Scanner(json, limits).run();
}

}  // namespace posthog::server
