// engine/release: giving memory back without touching live blocks, step by step (the optimizer
// measures each step) and all at once (memf_release_memory, malloc_trim).
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "central.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "large.hpp"
#include "release.hpp"

using namespace memf;

namespace {
// An hour of purge delay: no slab is purged behind a test's back, however slow the machine.
void no_purge_on_release() {
  load_config();
  g_config.purge_delay_ms = 3600 * 1000;
}
size_t transfer_blocks_of_all_classes() {
  size_t blocks = 0;
  for (unsigned cls = 0; cls < kNumClasses; ++cls) blocks += central_stats(cls).transfer_blocks;
  return blocks;
}
}  // namespace

TEST_CASE("the drain step returns this thread's cached blocks and the parked batches to their slabs") {
  no_purge_on_release();
  const unsigned cls = size_to_class(64);
  std::vector<void*> blocks;
  for (int i = 0; i < 3000; ++i) blocks.push_back(engine_malloc(64));
  void* kept = engine_malloc(64);
  memset(kept, 0x11, 64);
  for (void* p : blocks) engine_free(p);
  const uint32_t cached = t_cache.bins[cls].count();
  const size_t parked = transfer_blocks_of_all_classes();
  REQUIRE(cached > 0);
  REQUIRE(parked > 0);  // 3000 frees overflowed the bin by whole batches
  const PoolArenaStats before = pool_arena_stats();

  const ReleaseOutcome outcome = engine_release(ReleaseStep::kDrainCaches);
  REQUIRE(outcome.bytes == 0);  // moving blocks returns nothing to the OS
  // Every parked batch, the ones the flushed bin just parked included, went to the slabs.
  REQUIRE(outcome.blocks >= parked);
  REQUIRE(outcome.blocks <= parked + cached);
  REQUIRE(t_cache.bins[cls].count() == 0);
  REQUIRE(transfer_blocks_of_all_classes() == 0);
  // The slabs of the freed blocks emptied, but for the one with the live block.
  const PoolArenaStats after = pool_arena_stats();
  REQUIRE(after.slabs_in_use < before.slabs_in_use);
  REQUIRE(after.slabs_empty - before.slabs_empty == before.slabs_in_use - after.slabs_in_use);
  REQUIRE(engine_owns(kept));
  for (int i = 0; i < 64; ++i) REQUIRE(static_cast<unsigned char*>(kept)[i] == 0x11);
  engine_free(kept);
}

TEST_CASE("the purge step returns every empty slab's bytes, and only those") {
  no_purge_on_release();
  std::vector<void*> blocks;
  for (int i = 0; i < 2000; ++i) blocks.push_back(engine_malloc(512));
  for (void* p : blocks) engine_free(p);
  engine_release(ReleaseStep::kDrainCaches);
  const PoolArenaStats before = pool_arena_stats();
  REQUIRE(before.slabs_empty > 0);
  const ReleaseOutcome outcome = engine_release(ReleaseStep::kPurgeSlabs);
  REQUIRE(outcome.bytes == before.slabs_empty * kSlabSize);
  REQUIRE(outcome.blocks == 0);
  const PoolArenaStats after = pool_arena_stats();
  REQUIRE(after.slabs_empty == 0);
  REQUIRE(after.slabs_purged == before.slabs_purged + before.slabs_empty);
  REQUIRE(after.slabs_in_use == before.slabs_in_use);
  // Nothing left to purge.
  REQUIRE(engine_release(ReleaseStep::kPurgeSlabs).bytes == 0);
}

TEST_CASE("the mappings step unmaps the cached huge mappings; the mimalloc step reports nothing") {
  void* huge = engine_malloc(size_t(8) << 20);
  REQUIRE(huge != nullptr);
  memset(huge, 1, size_t(8) << 20);
  engine_free(huge);
  const LargeStats before = large_stats();
  REQUIRE(before.cached_mappings >= 1);
  REQUIRE(before.cached_bytes >= (size_t(8) << 20));
  const ReleaseOutcome outcome = engine_release(ReleaseStep::kReleaseMappings);
  REQUIRE(outcome.bytes == before.cached_bytes);
  REQUIRE(large_stats().cached_bytes == 0);
  REQUIRE(large_stats().cached_mappings == 0);
  const ReleaseOutcome collected = engine_release(ReleaseStep::kCollectMimalloc);
  REQUIRE(collected.bytes == 0);
  REQUIRE(collected.blocks == 0);
}

TEST_CASE("engine_release_memory runs every step: nothing cached, parked, empty or mapped stays") {
  no_purge_on_release();
  std::vector<void*> blocks;
  for (int i = 0; i < 2000; ++i) blocks.push_back(engine_malloc(256));
  for (void* p : blocks) engine_free(p);
  void* huge = engine_malloc(size_t(4) << 20);
  engine_free(huge);
  void* live = engine_malloc(256);
  const size_t cached_mapping_bytes = large_stats().cached_bytes;
  REQUIRE(cached_mapping_bytes >= (size_t(4) << 20));
  const size_t released = engine_release_memory();
  REQUIRE(released >= cached_mapping_bytes + kSlabSize);  // the mapping and at least one slab
  REQUIRE(t_cache.bins[size_to_class(256)].count() == 0);
  REQUIRE(transfer_blocks_of_all_classes() == 0);
  REQUIRE(pool_arena_stats().slabs_empty == 0);
  REQUIRE(large_stats().cached_bytes == 0);
  REQUIRE(engine_owns(live));
  engine_free(live);
}
