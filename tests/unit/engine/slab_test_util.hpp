// Helpers for tests that lay out a size class's slabs by hand (engine/central): a chain's blocks,
// a whole slab taken out, blocks given back one at a time. Only engine/ and below.
#pragma once
#include <catch2/catch.hpp>

#include <cstddef>
#include <vector>

#include "central.hpp"

namespace slab_test {

// The blocks of a chain, in order; each must be free.
inline std::vector<memf::FreeBlock*> blocks_of(memf::FreeBlock* chain) {
  std::vector<memf::FreeBlock*> blocks;
  for (; chain; chain = memf::link_of(memf::g_pool.free_key, chain)) {
    REQUIRE(memf::block_is_free(chain));
    blocks.push_back(chain);
  }
  return blocks;
}

// Every block of one slab of cls, out of it, in address order: the class must have no partial
// slab, so that central_take carves a fresh one.
inline std::vector<memf::FreeBlock*> take_whole_slab(unsigned cls) {
  const uint32_t capacity = memf::kSizeClasses[cls].capacity;
  memf::FreeBlock* chain = nullptr;
  REQUIRE(memf::central_take(cls, capacity, &chain) == capacity);
  std::vector<memf::FreeBlock*> blocks = blocks_of(chain);
  REQUIRE(blocks.size() == capacity);
  return blocks;
}

// Gives blocks[from, to) back to their slabs one at a time: the last one heads its slab's list.
inline void give_back_one_by_one(unsigned cls, const std::vector<memf::FreeBlock*>& blocks, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) {
    memf::make_free(blocks[i], nullptr);
    memf::central_return(cls, blocks[i], 1);
  }
}

}  // namespace slab_test
