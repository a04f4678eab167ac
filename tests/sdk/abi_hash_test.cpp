// The descriptor carries a hash of abi.h; this recomputes it from the file, so
// an edit to the binary interface cannot go unnoticed (bump the ABI version and
// update POSTHOG_ABI_HEADER_HASH together).
#include <catch2/catch.hpp>
#include <posthog/abi.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

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

}  // namespace abi_hash_test
