// engine/defrag: moving live blocks out of sparse slabs so that the slabs empty and go back.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <vector>

#include "central.hpp"
#include "defrag.hpp"
#include "engine.hpp"
#include "release.hpp"

using namespace memf;

namespace {
// Live pool bytes as the thread caches count them (what the tracker's totals are made of): a move
// changes none of the figures they come from.
int64_t pool_live_bytes() {
  PoolUsage usage;
  thread_cache_usage(&usage);
  int64_t bytes = 0;
  for (unsigned cls = 0; cls < kNumClasses; ++cls) bytes += usage.live[cls] * int64_t(kSizeClasses[cls].size);
  return bytes;
}
}  // namespace

TEST_CASE("defragmentation moves blocks out of sparse slabs and the slabs are returned") {
  const unsigned cls = size_to_class(256);
  const size_t per_slab = kSizeClasses[cls].capacity;
  engine_release_memory();
  std::vector<unsigned char*> blocks;
  for (size_t i = 0; i < 40 * per_slab; ++i) blocks.push_back(static_cast<unsigned char*>(engine_malloc(256)));
  // Keep one block in five, spread over every slab: forty slabs, each a fifth used.
  std::mt19937 random{7};
  std::vector<unsigned char*> kept;
  for (unsigned char* p : blocks) {
    if (random() % 5 == 0) {
      memset(p, int(uintptr_t(p) >> 8) & 0xff, 256);
      kept.push_back(p);
    } else {
      engine_free(p);
    }
  }
  engine_release_memory();  // the freed blocks back in their slabs
  const size_t before = pool_arena_stats().slabs_in_use;
  const int64_t live_before = pool_live_bytes();
  size_t hinted = 0, moved = 0;
  for (unsigned char*& p : kept) {
    if (engine_defrag_hint(p)) ++hinted;
    unsigned char* q = static_cast<unsigned char*>(engine_defrag_move(p));
    if (q != p) {
      ++moved;
      REQUIRE_FALSE(engine_owns(p));
      REQUIRE(engine_owns(q));
      for (int i = 0; i < 256; ++i)
        if (q[i] != ((uintptr_t(p) >> 8) & 0xff)) FAIL("byte " << i << " of a moved block differs");
      memset(q, int(uintptr_t(q) >> 8) & 0xff, 256);  // re-tag by the new address
      p = q;
    }
  }
  REQUIRE(hinted > 0);
  REQUIRE(moved > 0);
  REQUIRE(pool_live_bytes() == live_before);  // a move changes no totals
  engine_release_memory();
  const size_t after = pool_arena_stats().slabs_in_use;
  // About kept / per_slab slabs are needed; sparse ones emptied and went back.
  REQUIRE(after + 15 <= before);
  REQUIRE(engine_defrag_move(nullptr) == nullptr);
  int on_stack = 0;
  REQUIRE_FALSE(engine_defrag_hint(&on_stack));
  for (unsigned char* p : kept) {
    for (int i = 0; i < 256; ++i)
      if (p[i] != ((uintptr_t(p) >> 8) & 0xff)) FAIL("byte " << i << " of a kept block differs");
    engine_free(p);
  }
}
