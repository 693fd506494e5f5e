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

namespace {
struct Small {
  uint64_t words[10];
  Small* next_spare;
};
}  // namespace

TEST_CASE("small blocks are mapped several at a time: fresh ones side by side, zeroed, spares first") {
  SpareBlocks<Small, 4> blocks;
  std::vector<Small*> fresh;
  for (int i = 0; i < 4; ++i) {
    fresh.push_back(blocks.take());
    REQUIRE(fresh.back() != nullptr);
    for (uint64_t word : fresh.back()->words) REQUIRE(word == 0);
    fresh.back()->words[0] = uint64_t(i) + 1;
  }
  // One mapping: the four are consecutive.
  for (int i = 1; i < 4; ++i) REQUIRE(fresh[i] == fresh[0] + i);
  REQUIRE(blocks.mapped() == 4);
  blocks.give(fresh[2]);
  Small* again = blocks.take();
  REQUIRE(again == fresh[2]);  // a spare before anything fresh
  REQUIRE(again->words[0] == 3);
  Small* fifth = blocks.take();  // the mapping is used up: a new one
  REQUIRE(fifth != nullptr);
  REQUIRE((fifth < fresh[0] || fifth >= fresh[0] + 4));
  for (uint64_t word : fifth->words) REQUIRE(word == 0);
  REQUIRE(blocks.mapped() == 5);
}
