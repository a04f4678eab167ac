// The descriptor carries a hash of abi.h; this recomputes it from the file, so
// an edit to the binary interface cannot go unnoticed (bump the ABI version and
// update POSTHOG_ABI_HEADER_HASH together).
#include <catch2/catch.hpp>
#include <posthog/abi.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

namespace abi_hash_test {

TEST_CASE("POSTHOG_ABI_HEADER_HASH is the FNV-1a 64 of abi.h without its own line", "[sdk][abi]") {
  std::ifstream in(POSTHOG_ABI_HEADER, std::ios::binary);
  REQUIRE(in);
  std::stringstream all;
  all << in.rdbuf();
  std::string body, line;
  std::istringstream lines(all.str());
  bool first = true;
  while (std::getline(lines, line)) {
    if (line.rfind("#define POSTHOG_ABI_HEADER_HASH", 0) == 0) continue;
    if (!first) body += '\n';
    body += line;
    first = false;
  }
  if (!all.str().empty() && all.str().back() == '\n') body += '\n';
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  INFO("abi.h changed: bump POSTHOG_ABI_MINOR (additions at a table's end) or MAJOR, then set the hash to 0x"
       << std::hex << h);
  REQUIRE(h == POSTHOG_ABI_HEADER_HASH);
}

// abi.h as released at each minor of ABI 1. A server compares the hash of a
// module of its own minor, so two headers under one released minor would be
// two ABIs with one name: a change to abi.h comes with a new minor (a row here).
TEST_CASE("Each released ABI minor has one abi.h: a changed header needs a new minor", "[sdk][abi]") {
  static constexpr std::pair<int, std::uint64_t> released[] = {{0, 0x557e58ebb120c91bull},
                                                               {1, 0x09e29820ea2a5a3bull},
                                                               {2, 0x6a05c152524f56c4ull},
                                                               {3, 0x53eafd58283917e3ull},
                                                               {4, 0x139f94cec82363a6ull}};
  STATIC_REQUIRE(POSTHOG_ABI_MAJOR == 1);
  bool listed = false;
  for (auto [minor, hash] : released) {
    INFO("ABI 1." << minor);
    if (minor == POSTHOG_ABI_MINOR) {
      listed = true;
      INFO("abi.h changed after 1." << minor << " was released: bump POSTHOG_ABI_MINOR and add a row");
      CHECK(hash == POSTHOG_ABI_HEADER_HASH);
    } else {
      CHECK(hash != POSTHOG_ABI_HEADER_HASH);
    }
  }
  INFO("a new minor: add {" << POSTHOG_ABI_MINOR << ", its hash} to the released list");
  CHECK(listed);
}

}  // namespace abi_hash_test
