// engine/huge_regions: the timing rule that pauses the pools' huge pages after a slow one, and
// fresh slabs taken past kHugeRegionAfter: a 2 MiB-aligned one starts a region advised for huge
// pages and populated (MEMF_HUGE_PAGES=1), or nothing (0). The test runner's own allocations
// stay with glibc.
#include <catch2/catch.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <vector>

#include "central.hpp"
#include "huge_regions.hpp"
#include "mapping_test_util.hpp"
#include "os.hpp"
#include "pool_arena.hpp"
#include "release.hpp"

using namespace memf;

namespace {

constexpr uint64_t kSecond = 1'000'000'000;

using mapping_test::resident_pages;

struct HugePagesFor {
  HugePages saved = g_config.huge_pages;
  explicit HugePagesFor(HugePages setting) { g_config.huge_pages = setting; }
  ~HugePagesFor() { g_config.huge_pages = saved; }
};

// Takes slabs (holding them) until a fresh one starts a 2 MiB-aligned region with at least
// kHugeRegionAfter carved before it; returns it, the others in *held. Reused slabs come first
// (slab_acquire's order), so the loop goes on until the fresh cursor gets there.
SlabMeta* take_slabs_to_region_start(std::vector<SlabMeta*>* held) {
  const unsigned cls = 20;
  LockGuard guard(g_central[0][cls].lock);
  for (size_t i = 0; i < 4096; ++i) {
    const size_t fresh_before = pool_arena_stats().slabs_never_used;
    const size_t carved_before = g_pool.num_slabs - fresh_before;
    SlabMeta* slab = slab_acquire(cls);
    REQUIRE(slab != nullptr);
    const bool fresh = pool_arena_stats().slabs_never_used == fresh_before - 1;
    if (fresh && carved_before * kSlabSize >= kHugeRegionAfter && uintptr_t(slab_data(slab)) % kHugePageSize == 0)
      return slab;
    held->push_back(slab);
  }
  FAIL("no fresh slab at a region start within 4096 slabs");
  return nullptr;
}

void release_all(std::vector<SlabMeta*>& held) {
  for (SlabMeta* slab : held) slab_release(slab);
  held.clear();
}

}  // namespace

TEST_CASE("auto pauses the huge pages for kColdPause after a slow region; 1 never, 0 always") {
  HugeRegionProbe probe;
  REQUIRE(huge_region_allowed(probe, HugePages::kAuto, 5 * kSecond));
  huge_region_timed(probe, HugePages::kAuto, 200'000, 5 * kSecond);  // a warm huge page
  REQUIRE(huge_region_allowed(probe, HugePages::kAuto, 5 * kSecond));
  REQUIRE(probe.regions == 1);
  REQUIRE(probe.slow_regions == 0);
  huge_region_timed(probe, HugePages::kAuto, kSlowHugePage + 1, 6 * kSecond);  // one the host discarded
  REQUIRE(probe.slow_regions == 1);
  REQUIRE_FALSE(huge_region_allowed(probe, HugePages::kAuto, 6 * kSecond));
  REQUIRE_FALSE(huge_region_allowed(probe, HugePages::kAuto, 6 * kSecond + kColdPause - 1));
  REQUIRE(huge_region_allowed(probe, HugePages::kAuto, 6 * kSecond + kColdPause));
  // Exactly at the bound is not slow.
  HugeRegionProbe edge;
  huge_region_timed(edge, HugePages::kAuto, kSlowHugePage, kSecond);
  REQUIRE(edge.slow_regions == 0);
  REQUIRE(huge_region_allowed(edge, HugePages::kAuto, kSecond));
  // MEMF_HUGE_PAGES=1 keeps advising whatever the time; 0 never advises.
  HugeRegionProbe forced;
  huge_region_timed(forced, HugePages::kOn, 10 * kSlowHugePage, kSecond);
  REQUIRE(forced.slow_regions == 1);
  REQUIRE(huge_region_allowed(forced, HugePages::kOn, kSecond));
  REQUIRE_FALSE(huge_region_allowed(HugeRegionProbe{}, HugePages::kOff, kSecond));
}

TEST_CASE("with MEMF_HUGE_PAGES=1 a fresh slab past the threshold on a 2 MiB boundary starts a populated region") {
  if (!os::transparent_huge_pages()) {
    WARN("skipped: this system gives no transparent huge pages (/sys/kernel/mm/transparent_hugepage/enabled)");
    return;
  }
  REQUIRE(pool_init());
  HugePagesFor on(HugePages::kOn);
  huge_region_reset();
  std::vector<SlabMeta*> held;
  SlabMeta* first = take_slabs_to_region_start(&held);
  const HugeRegionProbe stats = huge_region_stats();
  REQUIRE(stats.regions == 1);
  // Advised, and resident before a block is carved: the region's memory and its slabs' state bytes.
  REQUIRE(mapping_test::advised_huge(slab_data(first)));
  REQUIRE(resident_pages(slab_data(first), kHugePageSize) == kHugePageSize / kPageSize);
  REQUIRE(resident_pages(&slot_state(slab_data(first)), kHugePageSize / 16) == kHugePageSize / 16 / kPageSize);
  REQUIRE(first->pages_ready == kSlabSize / kPageSize);
  // The region's other slabs, taken next, start resident too and start no region of their own.
  {
    LockGuard guard(g_central[0][20].lock);
    SlabMeta* next = slab_acquire(20);
    REQUIRE(slab_data(next) == slab_data(first) + kSlabSize);
    REQUIRE(next->pages_ready == kSlabSize / kPageSize);
    held.push_back(next);
  }
  REQUIRE(huge_region_stats().regions == 1);
  held.push_back(first);
  release_all(held);
}

TEST_CASE("with MEMF_HUGE_PAGES=0 fresh slabs stay on 4 KiB pages, untouched until carved") {
  REQUIRE(pool_init());
  HugePagesFor off(HugePages::kOff);
  huge_region_reset();
  std::vector<SlabMeta*> held;
  SlabMeta* first = take_slabs_to_region_start(&held);
  REQUIRE(huge_region_stats().regions == 0);
  REQUIRE_FALSE(mapping_test::advised_huge(slab_data(first)));
  REQUIRE(resident_pages(slab_data(first), kHugePageSize) == 0);
  REQUIRE(first->pages_ready == 0);
  held.push_back(first);
  release_all(held);
}

TEST_CASE("under auto, giving memory back pauses the regions for kColdPause") {
  REQUIRE(pool_init());
  HugePagesFor automatic(HugePages::kAuto);
  huge_region_reset();
  const uint64_t before = os::monotonic_ns();
  engine_release(ReleaseStep::kPurgeSlabs);
  REQUIRE(huge_region_stats().cold_until_ns >= before + kColdPause);
  std::vector<SlabMeta*> held;
  SlabMeta* first = take_slabs_to_region_start(&held);
  REQUIRE(huge_region_stats().regions == 0);
  REQUIRE_FALSE(mapping_test::advised_huge(slab_data(first)));
  REQUIRE(resident_pages(slab_data(first), kHugePageSize) == 0);
  held.push_back(first);
  release_all(held);
  huge_region_reset();
}
