// Transparent huge pages for the pools' range, 2 MiB at a time, once a program's pools are big.
//
// The pools carve fresh slabs from the range in address order. When the next fresh slab starts a
// 2 MiB-aligned region and the pools have carved at least kHugeRegionAfter, the region is advised
// for huge pages (MADV_HUGEPAGE) and populated in one call: one huge page instead of 512 faults of
// 4 KiB pages (on the benchmark machine 0.21-0.29 ms against 0.6-0.8 ms), and fewer TLB misses
// after. Its slabs then start resident, and so do their state pages (populated with it).
//
// Whether a fresh huge page is cheap depends on the machine: in a VM whose free memory the host
// takes back (base/page_reporting.hpp) it is only where the guest freed the memory less than the
// reporting delay ago; otherwise its first touch waits for the host, 4-8 ms. So each
// region's populate is timed: one slower than kSlowHugePage (a huge page the host had discarded,
// or one the kernel had to compact memory for, or 4 KiB pages because no huge one was free) stops
// the advice for kColdPause, after which the next region tries again; so does giving memory
// back (release.hpp). MEMF_HUGE_PAGES=1 advises every region whatever the time; 0 never.
#pragma once
#include <cstddef>
#include <cstdint>

#include "compiler.hpp"
#include "config.hpp"
#include "size_classes.hpp"

namespace memf {

// The slabs of one region.
constexpr size_t kHugeRegionSlabs = kHugePageSize / kSlabSize;
// Below this much carved, a program keeps 4 KiB pages: a region makes up to 2 MiB resident ahead
// of the carving, which a small program would feel (its RSS), and a big one does not.
constexpr size_t kHugeRegionAfter = size_t(8) << 20;
// Warm huge pages took 0.21-0.29 ms to populate here, discarded ones 4.4-8.0 ms, and 512 pages of
// 4 KiB 0.6-0.8 ms: a region slower than its 4 KiB pages would have been is a cold one.
constexpr uint64_t kSlowHugePage = 500'000;
constexpr uint64_t kColdPause = uint64_t(10) * 1'000'000'000;

// The timing rule, apart from the clock and the system (tests drive it with made-up times).
struct HugeRegionProbe {
  uint64_t cold_until_ns = 0;  // no advice before this time (auto only)
  uint64_t regions = 0;        // regions advised and populated
  uint64_t slow_regions = 0;   // of which slower than kSlowHugePage
};
// Whether a region starting now is advised, under setting (transparent huge pages available).
bool huge_region_allowed(const HugeRegionProbe& probe, HugePages setting, uint64_t now_ns);
// A region's populate took populate_ns, ending at now_ns.
void huge_region_timed(HugeRegionProbe& probe, HugePages setting, uint64_t populate_ns, uint64_t now_ns);

// Called by the arena (under its lock) when the fresh slab `slab` is taken, the pools having
// carved `carved` bytes before it: advises and populates the 2 MiB region that starts at the
// slab when that is due (the setting, the system's THP mode, the size, the probe), together with
// the state bytes of the region's slabs (state_bytes of them at states). Returns how many slabs
// from `slab` on are now resident (0 when nothing was done).
size_t huge_region_begin(void* slab, size_t carved, size_t slabs_left, uint8_t* states, size_t state_bytes);

// Memory is being given back (the optimizer under pressure, memf_release_memory): no region for
// kColdPause under auto, as after a slow one.
void huge_region_pause();

// What the process's regions did (statistics and tests).
HugeRegionProbe huge_region_stats();
// Tests: forget the probe's history.
void huge_region_reset();

}  // namespace memf
