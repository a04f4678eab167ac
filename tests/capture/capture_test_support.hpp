// Helpers for the capture tests: real gzip (zlib) and real lz-string (the npm
// package, run by node), so the decoder meets what clients actually send.
#pragma once

#include <zlib.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace posthog::testing {

// Standard base64 with padding, as browsers' btoa.
inline std::string base64(const std::string& in) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buffer = buffer << 8 | c;
    bits += 8;
    while (bits >= 6) out += alphabet[(buffer >> (bits -= 6)) & 63];
  }
  if (bits) out += alphabet[(buffer << (6 - bits)) & 63];
  while (out.size() % 4) out += '=';
  return out;
}

// Percent-encoding of everything but unreserved characters, as a form value.
inline std::string url_encode(const std::string& in) {
  std::string out;
  char hex[4];
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') out += static_cast<char>(c);
    else std::snprintf(hex, sizeof hex, "%%%02X", c), out += hex;
  }
  return out;
}

inline std::string gzip(const std::string& data) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Runs a node script with the test clients installed by scripts/setup.sh, with
// `input` on its stdin; returns its stdout.
inline std::string run_node(const std::string& script, const std::string& input = {}) {
  auto const file = std::filesystem::temp_directory_path() / ("posthog-node-input-" + std::to_string(::getpid()));
  std::ofstream(file, std::ios::binary) << input;
  std::string const command =
      "NODE_PATH='" POSTHOG_NODE_MODULES "' node -e '" + script + "' < '" + file.string() + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run node");
  std::string out;
  std::array<char, 4096> buf;
  while (auto n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  int const status = ::pclose(pipe);
  std::filesystem::remove(file);
  if (status != 0) throw std::runtime_error("node failed: " + command);
  return out;
}

// lz-string's compressToBase64 of `text`.
inline std::string lz_string_base64(const std::string& text) {
  return run_node("process.stdout.write(require(\"lz-string\").compressToBase64(require(\"fs\").readFileSync(0, \"utf8\")))",
                  text);
}

}  // namespace posthog::testing
