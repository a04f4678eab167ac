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

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
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
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[64 * 1024];
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    status = inflate(&z, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) {
      std::string why = z.msg ? z.msg : "truncated or corrupt data";
      inflateEnd(&z);
      throw CaptureError(400, "invalid_payload", "the body is not valid gzip: " + why);
    }
    std::size_t const produced = sizeof chunk - z.avail_out;
    if (out.size() + produced > max_output) {
      inflateEnd(&z);
      too_large(max_output);
    }
    out.append(chunk, produced);
    if (status == Z_OK && produced == 0 && z.avail_in == 0) {
      inflateEnd(&z);
      throw CaptureError(400, "invalid_payload", "the body is not valid gzip: truncated data");
    }
  }
  inflateEnd(&z);
  return out;
}

std::string decode_capture_body(const CaptureBody& r, std::size_t max_decoded) {
  std::string const compression = form_value(r.query, "compression");
  std::string text;
  bool from_form = false;

  auto const body = trim(r.body);
  // curl -d labels raw JSON as a form: JSON it is, when it looks like JSON.
  bool const json_in_form = !body.empty() && (body.front() == '{' || body.front() == '[');
  if (r.method == "GET" || (contains_ci(r.content_type, "application/x-www-form-urlencoded") && !json_in_form)) {
    std::string data = form_value(r.method == "GET" ? r.query : r.body, "data");
    if (data.empty() && r.method == "GET") throw CaptureError(400, "invalid_payload", "no data: send ?data=<base64 JSON>");
    if (data.empty()) throw CaptureError(400, "invalid_payload", "the form body has no 'data' field");
    text = std::move(data);
    from_form = true;
  } else {
    text.assign(r.body);
  }
  std::string const form_compression = from_form && r.method != "GET" ? form_value(r.body, "compression") : std::string();
  std::string_view const how = !compression.empty() ? std::string_view(compression) : std::string_view(form_compression);

  if (!how.empty() && how != "lz64" && how != "gzip" && how != "gzip-js" && how != "base64")
    throw CaptureError(400, "unsupported_compression",
                       "compression '" + std::string(how) + "' is not supported: gzip, gzip-js, lz64 or base64");
  if (auto const encoding = trim(r.content_encoding);
      !encoding.empty() && !contains_ci(encoding, "gzip") && !contains_ci(encoding, "identity"))
    throw CaptureError(415, "unsupported_encoding",
                       "Content-Encoding '" + std::string(encoding) + "' is not supported: send gzip or none");
  if (how == "lz64") {
    try {
      text = lz_string_decompress_base64(trim(text), max_decoded);
    } catch (const std::length_error&) {
      too_large(max_decoded);
    } catch (const std::invalid_argument& e) {
      throw CaptureError(400, "invalid_payload", std::string("the body is not valid lz-string base64 (") + e.what() + ")");
    }
    return text;
  }
  if (from_form || how == "base64") {
    auto const t = trim(text);
    // A form value is base64 unless it is already JSON (very old clients).
    if (!t.empty() && t.front() != '{' && t.front() != '[') text = decode_base64(t);
  }
  if (starts_with_gzip_magic(text) || how == "gzip" || how == "gzip-js" || contains_ci(r.content_encoding, "gzip"))
    return gunzip(text, max_decoded);
  if (text.size() > max_decoded) too_large(max_decoded);
  return text;
}

}  // namespace posthog::server
