#include "huge_regions.hpp"

#include "os.hpp"
#include "size_classes.hpp"

namespace memf {

namespace {
// Written under the arena lock (the only caller of huge_region_begin holds it); read without it
// for statistics, hence relaxed atomics.
constinit HugeRegionProbe g_probe;
HugeRegionProbe load(const HugeRegionProbe& probe) {
  return HugeRegionProbe{__atomic_load_n(&probe.cold_until_ns, __ATOMIC_RELAXED),
                         __atomic_load_n(&probe.regions, __ATOMIC_RELAXED),
                         __atomic_load_n(&probe.slow_regions, __ATOMIC_RELAXED)};
}
void store(HugeRegionProbe& probe, const HugeRegionProbe& value) {
  __atomic_store_n(&probe.cold_until_ns, value.cold_until_ns, __ATOMIC_RELAXED);
  __atomic_store_n(&probe.regions, value.regions, __ATOMIC_RELAXED);
  __atomic_store_n(&probe.slow_regions, value.slow_regions, __ATOMIC_RELAXED);
}
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
  constexpr size_t kRegionSlabs = kHugePageSize / kSlabSize;
  if (carved < kHugeRegionAfter || uintptr_t(slab) % kHugePageSize != 0 || slabs_left < kRegionSlabs) return 0;
  const HugePages setting = config().huge_pages;
  if (setting == HugePages::kOff || !os::transparent_huge_pages()) return 0;
  const uint64_t start = os::monotonic_ns();
  HugeRegionProbe probe = load(g_probe);
  if (!huge_region_allowed(probe, setting, start)) return 0;
  if (!os::advise_huge_pages(slab, kHugePageSize)) return 0;
  os::populate(slab, kHugePageSize);
  const uint64_t end = os::monotonic_ns();
  // The slabs' state pages would otherwise fault in one at a time as each slab is carved.
  os::populate(states, state_bytes);
  huge_region_timed(probe, setting, end - start, end);
  store(g_probe, probe);
  return kRegionSlabs;
}

HugeRegionProbe huge_region_stats() { return load(g_probe); }

void huge_region_reset() { store(g_probe, HugeRegionProbe{}); }

}  // namespace memf
