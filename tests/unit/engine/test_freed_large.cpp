// engine/freed_large: the ring of the last large frees, read when a free fails.
#include <catch2/catch.hpp>

#include "freed_large.hpp"

using namespace memf;

TEST_CASE("the newest record of an address is found; records older than the ring are not") {
  remember_freed_large({0x10000, 9000, 7, false});
  remember_freed_large({0x20000, 5 << 20, 9, true});
  remember_freed_large({0x10000, 12000, 8, false});  // the same address freed again later
  FreedLarge found;
  REQUIRE(find_freed_large(reinterpret_cast<void*>(0x10000), &found));
  CHECK(found.requested == 12000);
  CHECK(found.stack_id == 8);
  REQUIRE(find_freed_large(reinterpret_cast<void*>(0x20000), &found));
  CHECK(found.mapping);
  CHECK(found.requested == size_t(5) << 20);
  CHECK_FALSE(find_freed_large(reinterpret_cast<void*>(0x30000), &found));
  for (size_t i = 0; i < kFreedLargeRecords; ++i) remember_freed_large({0x40000 + i * 0x1000, 10000, 0, false});
  CHECK_FALSE(find_freed_large(reinterpret_cast<void*>(0x20000), &found));  // pushed out
  REQUIRE(find_freed_large(reinterpret_cast<void*>(0x40000 + (kFreedLargeRecords - 1) * 0x1000), &found));
}
