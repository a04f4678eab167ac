// The arena behind snapshots and batch parsing, emptied thousands of times.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <string>

#include "common/reusable_arena.hpp"

namespace reusable_arena_test {

TEST_CASE("An arena that overflows its buffer can be emptied and reused indefinitely", "[pipeline][arena]") {
  // Boost 1.81's monotonic_resource::release() doubles its next block size on
  // every reuse that overflows, until allocation throws bad_alloc (about 50
  // rounds from 1 KiB). Each round here overflows the 1 KiB buffer.
  posthog::server::ReusableArena arena(1024);
  std::string const big(8192, 'x');
  for (int round = 0; round < 200; ++round) {
    {
      boost::json::object o(arena.storage());
      o["a"] = big;
      o["b"] = big;
      REQUIRE(o.at("a").as_string().size() == big.size());
    }
    arena.reset();
  }
}

}  // namespace reusable_arena_test
