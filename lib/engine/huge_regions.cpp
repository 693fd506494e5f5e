#include "huge_regions.hpp"

#include "os.hpp"

namespace memf {

namespace {
// Each field a relaxed atomic: counted and paused by the arena (under its lock), paused by a
// release of memory (under no lock of the arena's), read for statistics.
constinit HugeRegionProbe g_probe;
}  // namespace

bool huge_region_allowed(const HugeRegionProbe& probe, HugePages setting, uint64_t now_ns) {
  switch (setting) {
    case HugePages::kOff: return false;
    case HugePages::kOn: return true;
    case HugePages::kAuto: break;
  }
  return now_ns >= probe.cold_until_ns;
}

void huge_region_timed(HugeRegionProbe& probe, HugePages setting, uint64_t populate_ns, uint64_t now_ns) {
  ++probe.regions;
  if (populate_ns <= kSlowHugePage) return;
  ++probe.slow_regions;
  if (setting == HugePages::kAuto) probe.cold_until_ns = now_ns + kColdPause;
}

size_t huge_region_begin(void* slab, size_t carved, size_t slabs_left, uint8_t* states, size_t state_bytes) {
  if (carved < kHugeRegionAfter || uintptr_t(slab) % kHugePageSize != 0 || slabs_left < kHugeRegionSlabs) return 0;
  const HugePages setting = config().huge_pages;
  if (setting == HugePages::kOff || !os::transparent_huge_pages()) return 0;
  const uint64_t start = os::monotonic_ns();
  HugeRegionProbe probe;
  probe.cold_until_ns = __atomic_load_n(&g_probe.cold_until_ns, __ATOMIC_RELAXED);
  if (!huge_region_allowed(probe, setting, start)) return 0;
  if (!os::advise_huge_pages(slab, kHugePageSize)) return 0;
  os::populate(slab, kHugePageSize);
  const uint64_t end = os::monotonic_ns();
  // The slabs' state pages would otherwise fault in one at a time as each slab is carved.
  os::populate(states, state_bytes);
  HugeRegionProbe one;
  huge_region_timed(one, setting, end - start, end);
  __atomic_fetch_add(&g_probe.regions, one.regions, __ATOMIC_RELAXED);
  __atomic_fetch_add(&g_probe.slow_regions, one.slow_regions, __ATOMIC_RELAXED);
  if (one.cold_until_ns) __atomic_store_n(&g_probe.cold_until_ns, one.cold_until_ns, __ATOMIC_RELAXED);
  return kHugeRegionSlabs;
}

void huge_region_pause() {
  __atomic_store_n(&g_probe.cold_until_ns, os::monotonic_ns() + kColdPause, __ATOMIC_RELAXED);
}

HugeRegionProbe huge_region_stats() {
  return HugeRegionProbe{__atomic_load_n(&g_probe.cold_until_ns, __ATOMIC_RELAXED),
                         __atomic_load_n(&g_probe.regions, __ATOMIC_RELAXED),
                         __atomic_load_n(&g_probe.slow_regions, __ATOMIC_RELAXED)};
}

void huge_region_reset() {
  __atomic_store_n(&g_probe.cold_until_ns, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&g_probe.regions, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&g_probe.slow_regions, 0, __ATOMIC_RELAXED);
}

}  // namespace memf
