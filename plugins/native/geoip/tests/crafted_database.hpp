// A MaxMind DB file written by the test, for the records no published test
// database has (a city without an English name, a postal record without a
// code, ...). The file follows the MaxMind DB format 2.0 specification: a
// binary search tree over the address bits (24-bit records), sixteen zero bytes,
// the data section, then the metadata after its marker. IPv4 only, which is all
// the tests need; libmaxminddb reads it like any other database.
//
//   write_crafted_database(path, {{"1.2.3.0/24", {{"city", {{"geoname_id", 1}}}}}});
#pragma once

#include <boost/json.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <arpa/inet.h>

namespace geoip_test_support {

struct CraftedNetwork {
  std::string cidr;  // "a.b.c.d/prefix"
  boost::json::object record;
};

namespace detail {

// MaxMind DB data types (the specification's numbers).
enum : int { utf8_string = 2, double_ = 3, uint16 = 5, uint32 = 6, map = 7, uint64 = 9, array = 11, boolean = 14 };

class Encoder {
 public:
  std::vector<unsigned char> bytes;

  void value(const boost::json::value& v) {
    switch (v.kind()) {
      case boost::json::kind::string: text(v.get_string()); break;
      case boost::json::kind::double_: {
        control(double_, 8);
        std::uint64_t bits;
        double const d = v.get_double();
        std::memcpy(&bits, &d, sizeof bits);
        big_endian(bits, 8);
        break;
      }
      case boost::json::kind::int64:
        if (v.get_int64() < 0) throw std::invalid_argument("crafted database: negative integers are not written");
        unsigned_integer(uint32, static_cast<std::uint64_t>(v.get_int64()));
        break;
      case boost::json::kind::uint64: unsigned_integer(uint64, v.get_uint64()); break;
      case boost::json::kind::bool_: control(boolean, v.get_bool() ? 1 : 0); break;
      case boost::json::kind::array:
        control(array, v.get_array().size());
        for (auto const& item : v.get_array()) value(item);
        break;
      case boost::json::kind::object:
        control(map, v.get_object().size());
        for (auto const& [k, item] : v.get_object()) {
          text(k);
          value(item);
        }
        break;
      case boost::json::kind::null: throw std::invalid_argument("crafted database: the format has no null");
    }
  }

  void text(std::string_view s) {
    control(utf8_string, s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }

  void unsigned_integer(int type, std::uint64_t v) {
    std::size_t n = 0;
    for (std::uint64_t rest = v; rest; rest >>= 8) ++n;
    control(type, n);
    big_endian(v, n);
  }

 private:
  // The control byte: the type in its top three bits (0 and a second byte for
  // the extended types), the payload size in the low five, longer sizes after.
  void control(int type, std::size_t size) {
    unsigned char const size_bits = size < 29 ? static_cast<unsigned char>(size) : size < 285 ? 29 : size < 65821 ? 30 : 31;
    bytes.push_back(static_cast<unsigned char>(((type <= 7 ? type : 0) << 5) | size_bits));
    if (type > 7) bytes.push_back(static_cast<unsigned char>(type - 7));
    if (size_bits == 29) big_endian(size - 29, 1);
    if (size_bits == 30) big_endian(size - 285, 2);
    if (size_bits == 31) big_endian(size - 65821, 3);
  }
  void big_endian(std::uint64_t v, std::size_t n) {
    for (std::size_t i = n; i-- > 0;) bytes.push_back(static_cast<unsigned char>(v >> (8 * i)));
  }
};

}  // namespace detail

inline void write_crafted_database(const std::filesystem::path& file, const std::vector<CraftedNetwork>& networks) {
  // The tree while it is built: a child is a node index, `empty`, or data
  // number n stored as data_base + n.
  constexpr std::int64_t empty = -1, data_base = std::int64_t(1) << 40;
  std::vector<std::array<std::int64_t, 2>> nodes{{empty, empty}};
  detail::Encoder data;
  std::vector<std::size_t> data_offsets;
  for (auto const& network : networks) {
    auto const slash = network.cidr.find('/');
    in_addr address{};
    if (slash == std::string::npos || ::inet_pton(AF_INET, network.cidr.substr(0, slash).c_str(), &address) != 1)
      throw std::invalid_argument("crafted database: '" + network.cidr + "' is not an IPv4 network");
    int const prefix = std::stoi(network.cidr.substr(slash + 1));
    if (prefix < 1 || prefix > 32) throw std::invalid_argument("crafted database: prefix of " + network.cidr);
    std::uint32_t const bits = ntohl(address.s_addr);
    data_offsets.push_back(data.bytes.size());
    data.value(network.record);
    std::size_t node = 0;
    for (int depth = 0; depth < prefix; ++depth) {
      int const side = (bits >> (31 - depth)) & 1;
      if (depth == prefix - 1) {
        nodes[node][side] = data_base + static_cast<std::int64_t>(data_offsets.size() - 1);
      } else {
        if (nodes[node][side] == empty) {
          nodes[node][side] = static_cast<std::int64_t>(nodes.size());
          nodes.push_back({empty, empty});
        }
        if (nodes[node][side] >= data_base)
          throw std::invalid_argument("crafted database: " + network.cidr + " lies inside an earlier network");
        node = static_cast<std::size_t>(nodes[node][side]);
      }
    }
  }

  std::uint64_t const node_count = nodes.size();
  std::vector<unsigned char> out;
  auto record = [&](std::int64_t child) {
    // A data record points 16 bytes past the tree's end, relative to node_count.
    std::uint64_t const v = child == empty        ? node_count
                            : child >= data_base ? node_count + 16 + data_offsets[child - data_base]
                                                 : static_cast<std::uint64_t>(child);
    if (v >= (1u << 24)) throw std::length_error("crafted database: too large for 24-bit records");
    for (int shift : {16, 8, 0}) out.push_back(static_cast<unsigned char>(v >> shift));
  };
  for (auto const& n : nodes) record(n[0]), record(n[1]);
  out.insert(out.end(), 16, 0);
  out.insert(out.end(), data.bytes.begin(), data.bytes.end());

  static constexpr unsigned char marker[] = {0xAB, 0xCD, 0xEF, 'M', 'a', 'x', 'M', 'i', 'n', 'd', '.', 'c', 'o', 'm'};
  out.insert(out.end(), std::begin(marker), std::end(marker));
  detail::Encoder metadata;
  metadata.bytes.push_back((detail::map << 5) | 9);
  metadata.text("binary_format_major_version"), metadata.unsigned_integer(detail::uint16, 2);
  metadata.text("binary_format_minor_version"), metadata.unsigned_integer(detail::uint16, 0);
  metadata.text("build_epoch"), metadata.unsigned_integer(detail::uint64, 1767225600);
  metadata.text("database_type"), metadata.text("GeoIP2-City");
  metadata.text("description"), metadata.value(boost::json::object{{"en", "records crafted by a test"}});
  metadata.text("ip_version"), metadata.unsigned_integer(detail::uint16, 4);
  metadata.text("languages"), metadata.value(boost::json::array{"en"});
  metadata.text("node_count"), metadata.unsigned_integer(detail::uint32, node_count);
  metadata.text("record_size"), metadata.unsigned_integer(detail::uint16, 24);
  out.insert(out.end(), metadata.bytes.begin(), metadata.bytes.end());

  std::ofstream f(file, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  if (!f) throw std::runtime_error("crafted database: cannot write " + file.string());
}

}  // namespace geoip_test_support
