// The registry of root listers: listers are called in turn, their counts add up even past the
// caller's capacity, and a lister registered twice is called once.
#include <catch2/catch.hpp>

#include "root_sources.hpp"

using namespace memf;

namespace {

size_t two_ranges(AddressRange* out, size_t capacity) {
  const AddressRange mine[2] = {{0x1000, 0x2000}, {0x5000, 0x5800}};
  for (size_t i = 0; i < 2 && i < capacity; ++i) out[i] = mine[i];
  return 2;
}

size_t one_range(AddressRange* out, size_t capacity) {
  if (capacity > 0) out[0] = {0x9000, 0x9100};
  return 1;
}

}  // namespace

TEST_CASE("registered listers give their ranges in turn; the total counts what did not fit") {
  REQUIRE(register_root_lister(two_ranges));
  REQUIRE(register_root_lister(one_range));
  REQUIRE(register_root_lister(two_ranges));  // again: still one entry
  AddressRange out[8] = {};
  REQUIRE(list_registered_roots(out, 8) == 3);
  CHECK(out[0].begin == 0x1000);
  CHECK(out[1].end == 0x5800);
  CHECK(out[2].begin == 0x9000);
  AddressRange small[2] = {};
  CHECK(list_registered_roots(small, 2) == 3);  // the third did not fit, and is counted
  CHECK(small[1].begin == 0x5000);
  CHECK(list_registered_roots(nullptr, 0) == 3);
}

TEST_CASE("the table holds kMaxRootListers listers") {
  // Two are registered above (test order is not relied on: register them here as well).
  register_root_lister(two_ranges);
  register_root_lister(one_range);
  static size_t (*const extra[])(AddressRange*, size_t) = {
      [](AddressRange*, size_t) -> size_t { return 0; }, [](AddressRange*, size_t) -> size_t { return 0; },
      [](AddressRange*, size_t) -> size_t { return 0; }, [](AddressRange*, size_t) -> size_t { return 0; },
      [](AddressRange*, size_t) -> size_t { return 0; }, [](AddressRange*, size_t) -> size_t { return 0; },
      [](AddressRange*, size_t) -> size_t { return 0; }};
  size_t accepted = 0;
  for (auto lister : extra) accepted += register_root_lister(lister);
  CHECK(accepted == kMaxRootListers - 2);
  CHECK(list_registered_roots(nullptr, 0) == 3);
}
