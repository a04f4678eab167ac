#include "lz_string.hpp"

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace posthog::server {
namespace {

int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == ' ') return 62;  // a '+' that form decoding turned into a space
  if (c == '/') return 63;
  if (c == '=') return 64;  // lz-string treats padding as a value, not an end
  return -1;
}

// Reads the stream's bits, lowest first within each 6-bit character.
class BitReader {
 public:
  explicit BitReader(std::string_view input) : input_(input) { value_ = next(); }
  bool exhausted() const noexcept { return index_ > input_.size(); }
  unsigned read(int bits) {
    unsigned result = 0;
    for (int i = 0; i < bits; ++i) {
      if (value_ & position_) result |= 1u << i;
      position_ >>= 1;
      if (position_ == 0) {
        position_ = 32;
        value_ = next();
      }
    }
    return result;
  }

 private:
  unsigned next() {
    if (index_ >= input_.size()) {
      ++index_;
      return 0;
    }
    int const v = base64_value(input_[index_++]);
    if (v < 0) throw std::invalid_argument("lz64: not a base64 character");
    return static_cast<unsigned>(v);
  }
  std::string_view input_;
  std::size_t index_ = 0;
  unsigned value_ = 0;
  unsigned position_ = 32;
};

void append_utf8(std::string& out, std::uint32_t cp) {
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
}

// UTF-16 code units to UTF-8; a lone surrogate becomes U+FFFD.
std::string to_utf8(const std::vector<char16_t>& units) {
  std::string out;
  out.reserve(units.size());
  for (std::size_t i = 0; i < units.size(); ++i) {
    std::uint32_t u = units[i];
    if (u >= 0xd800 && u <= 0xdbff && i + 1 < units.size() && units[i + 1] >= 0xdc00 && units[i + 1] <= 0xdfff) {
      u = 0x10000 + ((u - 0xd800) << 10) + (units[i + 1] - 0xdc00);
      ++i;
    } else if (u >= 0xd800 && u <= 0xdfff) {
      u = 0xfffd;
    }
    append_utf8(out, u);
  }
  return out;
}

}  // namespace

std::string lz_string_decompress_base64(std::string_view input, std::size_t max_output) {
  if (input.empty()) throw std::invalid_argument("lz64: empty input");
  // Dictionary entries are slices of the output: an entry is always the
  // previous phrase plus the first unit of the next, both already written.
  struct Slice {
    std::uint32_t offset, length;
  };
  std::vector<Slice> dictionary(3, Slice{0, 0});  // codes 0, 1, 2 are not phrases
  std::vector<char16_t> out;
  BitReader bits(input);
  int num_bits = 3;
  std::size_t enlarge_in = 4;
  auto grow = [&] {
    if (--enlarge_in == 0) enlarge_in = std::size_t(1) << num_bits++;
    if (num_bits > 30) throw std::invalid_argument("lz64: malformed stream");
  };
  // The limit is on the UTF-8 that comes out, not on UTF-16 units: one unit
  // can become three bytes. Counted exactly as to_utf8 will write them: a
  // surrogate alone becomes U+FFFD (3 bytes), a pair 4 bytes.
  std::size_t utf8_bytes = 0;
  auto put = [&](char16_t unit) {
    std::size_t cost = unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
    if (unit >= 0xdc00 && unit <= 0xdfff && !out.empty() && out.back() >= 0xd800 && out.back() <= 0xdbff)
      cost = 1;  // with the high surrogate's 3, the pair's 4
    if ((utf8_bytes += cost) > max_output) throw std::length_error("lz64: decompressed body over the limit");
    out.push_back(unit);
  };

  unsigned const first = bits.read(2);
  if (first == 2) return {};
  if (first > 2) throw std::invalid_argument("lz64: malformed stream");
  put(static_cast<char16_t>(bits.read(first == 0 ? 8 : 16)));
  Slice w{0, 1};
  dictionary.push_back(w);

  for (;;) {
    if (bits.exhausted()) throw std::invalid_argument("lz64: truncated stream");
    unsigned const c = bits.read(num_bits);
    if (c == 2) return to_utf8(out);
    auto const start = static_cast<std::uint32_t>(out.size());
    Slice entry{};
    if (c == 0 || c == 1) {  // a literal: a new one-unit phrase, written here
      char16_t const unit = static_cast<char16_t>(bits.read(c == 0 ? 8 : 16));
      dictionary.push_back(Slice{start, 1});
      grow();
      put(unit);
      entry = Slice{start, 1};
    } else {
      if (c < dictionary.size()) entry = dictionary[c];
      else if (c == dictionary.size()) entry = Slice{w.offset, w.length + 1};  // w + w[0]
      else throw std::invalid_argument("lz64: malformed stream");
      // Forward copy, unit by unit: w + w[0] reads the unit it has just written.
      for (std::uint32_t i = 0; i < entry.length; ++i) put(out[entry.offset + i]);
    }
    dictionary.push_back(Slice{w.offset, w.length + 1});  // w + entry[0], contiguous in the output
    grow();
    w = Slice{start, entry.length};
  }
}

}  // namespace posthog::server
