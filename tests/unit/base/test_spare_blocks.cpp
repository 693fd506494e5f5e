// base/spare_blocks: a fresh block is zeroed, a given-back block is handed out again as it was,
// and blocks are mapped only when no spare is left.
#include <catch2/catch.hpp>

#include <cstdint>
#include <thread>
#include <vector>

#include "spare_blocks.hpp"

using namespace memf;

namespace {
struct Table {
  uint64_t words[600];  // more than a page
  Table* next_spare;
};
}  // namespace

TEST_CASE("fresh blocks are zeroed; given-back blocks come back as they were, before any new mapping") {
  SpareBlocks<Table> blocks;
  Table* first = blocks.take();
  REQUIRE(first != nullptr);
  for (uint64_t word : first->words) REQUIRE(word == 0);
  REQUIRE(blocks.mapped() == 1);
  REQUIRE(blocks.spare() == 0);
  first->words[599] = 42;
  blocks.give(first);
  REQUIRE(blocks.spare() == 1);
  Table* again = blocks.take();
  REQUIRE(again == first);
  REQUIRE(again->words[599] == 42);
  REQUIRE(blocks.mapped() == 1);
  Table* second = blocks.take();
  REQUIRE(second != first);
  REQUIRE(blocks.mapped() == 2);
  blocks.give(again);
  blocks.give(second);
  REQUIRE(blocks.spare() == 2);
}

TEST_CASE("threads one after another share the blocks their predecessors gave back") {
  SpareBlocks<Table> blocks;
  for (int t = 0; t < 8; ++t) {
    std::thread([&blocks] {
      Table* mine = blocks.take();
      REQUIRE(mine != nullptr);
      blocks.give(mine);
    }).join();
  }
  REQUIRE(blocks.mapped() == 1);
  REQUIRE(blocks.spare() == 1);
}
