#include "body_decoder.hpp"

#include <zlib.h>

#include <stdexcept>

#include "lz_string.hpp"

namespace posthog::server {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool starts_with_gzip_magic(std::string_view b) noexcept {
  return b.size() >= 2 && static_cast<unsigned char>(b[0]) == 0x1f && static_cast<unsigned char>(b[1]) == 0x8b;
}

bool contains_ci(std::string_view haystack, std::string_view needle) noexcept {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool match = true;
    for (std::size_t j = 0; j < needle.size() && match; ++j) {
      char a = haystack[i + j], b = needle[j];
      if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
      match = a == b;
    }
    if (match) return true;
  }
  return false;
}

bool equals_ci(std::string_view a, std::string_view lower) noexcept {
  return a.size() == lower.size() && contains_ci(a, lower);
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// RFC 9110's Content-Encoding: a list of codings, in the order applied. Only
// gzip (x-gzip, its old name) and identity are known here; gzip at most once.
bool content_encoding_is_gzip(std::string_view header) {
  int gzips = 0;
  while (!header.empty()) {
    auto const comma = header.find(',');
    auto coding = trim(header.substr(0, comma));
    header.remove_prefix(comma == std::string_view::npos ? header.size() : comma + 1);
    if (coding.empty() || equals_ci(coding, "identity")) continue;
    if (equals_ci(coding, "gzip") || equals_ci(coding, "x-gzip")) {
      ++gzips;
      continue;
    }
    throw CaptureError(415, "unsupported_encoding",
                       "Content-Encoding '" + std::string(coding) + "' is not supported: send gzip or none");
  }
  if (gzips > 1) throw CaptureError(415, "unsupported_encoding", "Content-Encoding names gzip more than once");
  return gzips == 1;
}

[[noreturn]] void too_large(std::size_t limit) {
  throw CaptureError(413, "too_large",
                     "the decoded body is over the limit of " + std::to_string(limit) + " bytes");
}

}  // namespace

std::string form_value(std::string_view form, std::string_view key) {
  while (!form.empty()) {
    auto const amp = form.find('&');
    auto const pair = form.substr(0, amp);
    auto const eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == std::string_view::npos ? std::string() : url_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    form.remove_prefix(amp + 1);
  }
  return {};
}

std::string decode_base64(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+' || c == '-' || c == ' ') v = 62;  // ' ': a '+' that form decoding turned into a space
    else if (c == '/' || c == '_') v = 63;
    else if (c == '=' || c == '\n' || c == '\r' || c == '\t') continue;
    else throw CaptureError(400, "invalid_payload", "the body is not valid base64");
    buffer = buffer << 6 | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(buffer >> bits & 0xff);
    }
  }
  return out;
}

std::string gunzip(std::string_view data, std::size_t max_output) {
  z_stream z{};
  if (inflateInit2(&z, 32 + MAX_WBITS) != Z_OK) throw std::runtime_error("zlib: inflateInit2 failed");
  struct End {
    z_stream& z;
    ~End() { inflateEnd(&z); }
  } end{z};
  auto invalid = [](const std::string& why) {
    return CaptureError(400, "invalid_payload", "the body is not valid gzip: " + why);
  };
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[64 * 1024];
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    int const status = inflate(&z, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) throw invalid(z.msg ? z.msg : "truncated or corrupt data");
    std::size_t const produced = sizeof chunk - z.avail_out;
    if (out.size() + produced > max_output) too_large(max_output);
    out.append(chunk, produced);
    if (status == Z_STREAM_END) {
      if (z.avail_in == 0) return out;
      // gzip allows members one after another (what `cat a.gz b.gz` makes):
      // each is decoded; anything else after the stream is refused.
      if (!starts_with_gzip_magic({reinterpret_cast<const char*>(z.next_in), z.avail_in}))
        throw invalid(std::to_string(z.avail_in) + " bytes after the end of the gzip stream");
      if (inflateReset(&z) != Z_OK) throw invalid("cannot start its next member");
      continue;
    }
    if (produced == 0 && z.avail_in == 0) throw invalid("truncated data");
  }
}

DecodedBody decode_capture_body(const CaptureBody& r, std::size_t max_decoded) {
  std::string const compression = form_value(r.query, "compression");
  DecodedBody out;
  std::string_view text = r.body;  // what is decoded next; owned by `out.decoded` once it was
  bool from_form = false;
  auto keep = [&](std::string decoded) {
    out.decoded = std::move(decoded);
    out.was_decoded = true;
    text = out.decoded;
  };

  auto const body = trim(r.body);
  // curl -d labels raw JSON as a form: JSON it is, when it looks like JSON.
  bool const json_in_form = !body.empty() && (body.front() == '{' || body.front() == '[');
  if (r.method == "GET" || (contains_ci(r.content_type, "application/x-www-form-urlencoded") && !json_in_form)) {
    std::string data = form_value(r.method == "GET" ? r.query : r.body, "data");
    if (data.empty() && r.method == "GET") throw CaptureError(400, "invalid_payload", "no data: send ?data=<base64 JSON>");
    if (data.empty()) throw CaptureError(400, "invalid_payload", "the form body has no 'data' field");
    keep(std::move(data));
    from_form = true;
  }
  std::string const form_compression = from_form && r.method != "GET" ? form_value(r.body, "compression") : std::string();
  std::string_view const how = !compression.empty() ? std::string_view(compression) : std::string_view(form_compression);

  if (!how.empty() && how != "lz64" && how != "gzip" && how != "gzip-js" && how != "base64")
    throw CaptureError(400, "unsupported_compression",
                       "compression '" + std::string(how) + "' is not supported: gzip, gzip-js, lz64 or base64");
  bool const gzip_encoded = content_encoding_is_gzip(r.content_encoding);
  if (how == "lz64") {
    try {
      keep(lz_string_decompress_base64(trim(text), max_decoded));
    } catch (const std::length_error&) {
      too_large(max_decoded);
    } catch (const std::invalid_argument& e) {
      throw CaptureError(400, "invalid_payload", std::string("the body is not valid lz-string base64 (") + e.what() + ")");
    }
    return out;
  }
  if (from_form || how == "base64") {
    auto const t = trim(text);
    // A form value is base64 unless it is already JSON (very old clients).
    if (!t.empty() && t.front() != '{' && t.front() != '[') keep(decode_base64(t));
  }
  if (starts_with_gzip_magic(text) || how == "gzip" || how == "gzip-js" || gzip_encoded) {
    keep(gunzip(text, max_decoded));
    return out;
  }
  if (text.size() > max_decoded) too_large(max_decoded);
  if (!out.was_decoded) out.as_sent = r.body;
  return out;
}

}  // namespace posthog::server
