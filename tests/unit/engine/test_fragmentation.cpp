// engine/fragmentation: per size class, the slabs committed against the bytes the program holds
// and the bytes sitting in caches between (memf_fragmentation reports these figures).
#include <catch2/catch.hpp>

#include <vector>

#include "central.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "fragmentation.hpp"

using namespace memf;

namespace {
ClassFragmentation figures_for(uint32_t size, uint64_t* empty_slab_bytes = nullptr) {
  ClassFragmentation all[kNumClasses];
  const size_t count = fragmentation_by_class(all, kNumClasses, empty_slab_bytes);
  for (size_t i = 0; i < count && i < kNumClasses; ++i)
    if (all[i].block_size == size) return all[i];
  return ClassFragmentation{size, 0, 0, 0, 0, 0};
}
}  // namespace

TEST_CASE("fragmentation figures: committed slabs against the bytes held, per class") {
  const ClassFragmentation before = figures_for(1792);
  std::vector<void*> blocks;
  for (int i = 0; i < 4096; ++i) blocks.push_back(engine_malloc(1792));  // 7 MiB, 36 per slab
  const ClassFragmentation dense = figures_for(1792);
  REQUIRE(dense.slabs >= before.slabs + 4096 / 36);
  REQUIRE(dense.used_bytes >= before.used_bytes + 4096 * 1792 - 64 * 1024);
  REQUIRE(dense.fragmentation < 0.2);
  for (size_t i = 0; i < blocks.size(); i += 2) engine_free(blocks[i]);  // every other one
  thread_cache_flush_current();
  const ClassFragmentation sparse = figures_for(1792);
  REQUIRE(sparse.committed_bytes == dense.committed_bytes);  // no slab emptied
  REQUIRE(sparse.fragmentation > 0.4);
  REQUIRE(sparse.fragmentation < 0.7);
  for (size_t i = 1; i < blocks.size(); i += 2) engine_free(blocks[i]);
}

TEST_CASE("fragmentation figures: blocks in caches are cached bytes, classes are listed smallest first, empty slabs apart") {
  load_config();
  g_config.purge_delay_ms = 3600 * 1000;  // emptied slabs stay committed, whatever the time
  const uint32_t size = 2560;
  std::vector<void*> blocks;
  for (int i = 0; i < 500; ++i) blocks.push_back(engine_malloc(size));
  for (void* p : blocks) engine_free(p);
  // This thread's bin and the parked batches hold blocks out of their slabs, with no program.
  const ClassFragmentation cached = figures_for(size);
  REQUIRE(cached.slabs > 0);
  REQUIRE(cached.used_bytes == 0);
  REQUIRE(cached.cached_bytes > 0);
  REQUIRE(cached.cached_bytes % size == 0);
  REQUIRE(cached.fragmentation == 1.0);
  ClassFragmentation all[kNumClasses];
  const size_t count = fragmentation_by_class(all, kNumClasses, nullptr);
  REQUIRE(count > 0);
  for (size_t i = 1; i < count; ++i) REQUIRE(all[i - 1].block_size < all[i].block_size);
  for (size_t i = 0; i < count; ++i) REQUIRE(all[i].committed_bytes == uint64_t(all[i].slabs) * kSlabSize);
  // Back in their slabs, the slabs are empty: no longer the class's, counted apart.
  uint64_t empty_before = 0;
  figures_for(size, &empty_before);
  thread_cache_flush_current();
  central_flush_transfers();
  uint64_t empty_after = 0;
  const ClassFragmentation gone = figures_for(size, &empty_after);
  REQUIRE(gone.slabs == 0);
  REQUIRE(empty_after >= empty_before + cached.committed_bytes);
  // A capacity smaller than the classes: the count is still every class with slabs.
  ClassFragmentation one[1];
  REQUIRE(fragmentation_by_class(one, 1, nullptr) == fragmentation_by_class(all, kNumClasses, nullptr));
}
