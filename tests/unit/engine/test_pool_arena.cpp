// engine/pool_arena: the pools' reserved range, a block's state byte and free mark through malloc
// and free (also in another thread's cache, a transfer batch and its slab), slabs reassigned to
// another class, empty slabs released and purged. The test runner's own allocations stay with
// glibc.
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "bad_pointer.hpp"
#include "central.hpp"
#include "engine.hpp"
#include "mapping_test_util.hpp"
#include "release.hpp"

using namespace memf;

using mapping_test::resident_pages;

TEST_CASE("small blocks come from the pools, aligned, distinct and writable") {
  for (size_t size : {size_t(0), size_t(1), size_t(8), size_t(16), size_t(24), size_t(100), size_t(256), size_t(257),
                      size_t(1000), size_t(4096), size_t(5000), size_t(8192), size_t(12000), size_t(16384)}) {
    std::vector<void*> blocks;
    std::set<void*> seen;
    for (int i = 0; i < 500; ++i) {
      void* p = engine_malloc(size);
      REQUIRE(p != nullptr);
      REQUIRE(pool_contains(p));
      REQUIRE(uintptr_t(p) % kMinAlign == 0);
      REQUIRE(engine_usable_size(p) >= size);
      REQUIRE(engine_usable_size(p) == class_to_size(size_to_class(size)));
      REQUIRE(seen.insert(p).second);
      memset(p, 0xab, engine_usable_size(p));
      blocks.push_back(p);
    }
    // No two blocks overlap.
    std::sort(blocks.begin(), blocks.end());
    for (size_t i = 1; i < blocks.size(); ++i)
      REQUIRE(static_cast<char*>(blocks[i - 1]) + engine_usable_size(blocks[i - 1]) <= blocks[i]);
    for (void* p : blocks) engine_free(p);
  }
}

TEST_CASE("a block's state byte and free mark follow it through malloc and free") {
  void* p = engine_malloc(40);
  REQUIRE(slot_state(p) == kSlotAllocated);
  REQUIRE_FALSE(block_is_free(p));
  REQUIRE(engine_owns(p));
  engine_free(p);
  // The fast paths leave the state byte alone; the mark in the block's second word says free.
  REQUIRE(slot_state(p) == kSlotAllocated);
  REQUIRE(block_is_free(p));
  REQUIRE_FALSE(engine_owns(p));
  // A block start's neighbours inside it are never block starts.
  REQUIRE(slot_state(static_cast<char*>(p) + 16) == kSlotNone);
  // The most recently freed block of a class is the next one handed out (LIFO cache).
  void* q = engine_malloc(40);
  REQUIRE(q == p);
  engine_free(q);
}

TEST_CASE("a freed block stays recognisably free in another thread's cache, a transfer batch and its slab") {
  auto* block = static_cast<char*>(engine_malloc(96));
  memset(block, 0x5a, 96);
  REQUIRE(engine_owns(block));
  // Another thread frees it: the block sits in that thread's cache, the state byte unwritten.
  std::thread([block] { engine_free(block); }).join();
  REQUIRE(slot_state(block) == kSlotAllocated);
  REQUIRE(block_is_free(block));
  REQUIRE_FALSE(engine_owns(block));
  // The free fast path turns a second free away (free_slow then reports it as a double free).
  REQUIRE_FALSE(pool_try_free(block));
  REQUIRE(classify_bad_pointer(block).kind == Misuse::kDoubleFree);
  // The exiting thread's cache went to the centre (transfer batches or slabs): still free.
  central_flush_transfers();
  REQUIRE(block_is_free(block));
  REQUIRE_FALSE(pool_try_free(block));
  // Program data in the second word is not a mark: a live block whose bytes are all 0x5a, or
  // that holds a free block's copied mark, frees normally.
  auto* live = static_cast<char*>(engine_malloc(96));
  memcpy(live + 8, block + 8, 8);
  REQUIRE(engine_owns(live));
  REQUIRE(pool_try_free(live));
}

TEST_CASE("a slab reassigned to another class starts with no block starts") {
  engine_release_memory();
  // Fill slabs with 48 B blocks, free them all and return them to their slabs without purging
  // (the purge delay keeps them committed), then take 64 B blocks, which reuse those slabs.
  std::vector<void*> small;
  const size_t count = 3 * (kSlabSize / 48);
  for (size_t i = 0; i < count; ++i) small.push_back(engine_malloc(48));
  std::set<const SlabMeta*> slabs_of_48;
  for (void* p : small) slabs_of_48.insert(slab_of(p));
  for (void* p : small) engine_free(p);
  thread_cache_flush_current();
  central_flush_transfers();
  REQUIRE(pool_arena_stats().slabs_empty >= 2);
  std::vector<void*> blocks;
  size_t reused = 0;
  for (size_t i = 0; i < 3 * (kSlabSize / 64); ++i) {
    auto* q = static_cast<char*>(engine_malloc(64));
    blocks.push_back(q);
    if (slabs_of_48.count(slab_of(q))) ++reused;
    // Granules inside a 64 B block are never block starts, whatever the slab held before.
    for (size_t offset = 16; offset < 64; offset += 16)
      if (slot_state(q + offset) != kSlotNone) FAIL("granule " << offset << " into a 64 B block is a block start");
  }
  REQUIRE(reused > kSlabSize / 64);
  for (void* q : blocks) engine_free(q);
  thread_cache_flush_current();  // the bursts grew the bins; later tests expect them fresh
}

TEST_CASE("empty slabs are released, and purged after the delay or on request") {
  engine_release_memory();
  PoolArenaStats start = pool_arena_stats();
  std::vector<void*> blocks;
  const size_t count = 20 * (kSlabSize / 512);  // twenty slabs of the 512 B class
  for (size_t i = 0; i < count; ++i) {
    blocks.push_back(engine_malloc(512));
    memset(blocks.back(), 1, 512);
  }
  PoolArenaStats full = pool_arena_stats();
  REQUIRE(full.slabs_in_use >= start.slabs_in_use + 20);
  void* first_slab = slab_data(slab_of(blocks.front()));
  REQUIRE(resident_pages(first_slab, kSlabSize) == kSlabSize / kPageSize);
  for (void* p : blocks) engine_free(p);
  engine_release_memory();  // flushes this thread's cache and the transfer batches, purges
  PoolArenaStats after = pool_arena_stats();
  REQUIRE(after.slabs_in_use <= start.slabs_in_use);
  REQUIRE(after.slabs_empty == 0);
  REQUIRE(after.slabs_purged >= 20);
  REQUIRE(resident_pages(first_slab, kSlabSize) == 0);
}
