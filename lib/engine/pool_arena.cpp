#include "pool_arena.hpp"

#include <cstring>

#include "config.hpp"
#include "huge_regions.hpp"
#include "os.hpp"
#include "pool_range.hpp"

namespace memf {

constinit PoolRange g_pool = {};

namespace {

constinit SpinLock g_arena_lock;
constinit SpinLock g_init_lock;
constinit std::atomic<bool> g_initialised{false};
size_t g_next_fresh_slab = 0;
// Fresh slabs below this one are in a huge-page region that was populated (huge_regions.hpp).
size_t g_resident_fresh_end = 0;
// Most recently emptied at the front; the back is the oldest (next to purge).
constinit SlabList<SlabMeta> g_empty{kSlabEmpty};
constinit SlabList<SlabMeta> g_purged{kSlabPurged};
size_t g_in_use_count = 0;

// The slab's state bytes: one page (a byte per 16-byte granule of its 64 KiB).
uint8_t* slab_states(const SlabMeta* slab) { return g_pool.slot_states + (size_t(slab_number(slab)) << (kSlabShift - 4)); }
constexpr size_t kSlabStateBytes = kSlabSize >> 4;

void purge_slab_pages(SlabMeta* slab) {
  os::purge(slab_data(slab), kSlabSize);
  // A slab is assigned afresh with every state byte kSlotNone: dropping the page (it reads back
  // as zeros) does that now.
  os::purge(slab_states(slab), kSlabStateBytes);
}

// Caller holds g_arena_lock. Purges slabs that have been empty longer than the delay.
size_t purge_expired(uint64_t now, uint64_t delay_ns) {
  size_t released = 0;
  while (!g_empty.empty() && now - g_pool.slabs[g_empty.tail()].empty_since_ns >= delay_ns) {
    const uint32_t oldest = g_empty.pop_back(g_pool.slabs, kSlabPurged);
    purge_slab_pages(&g_pool.slabs[oldest]);
    g_purged.push_front(g_pool.slabs, oldest);
    released += kSlabSize;
  }
  return released;
}

}  // namespace

bool pool_init() {
  if (g_initialised.load(std::memory_order_acquire)) return true;
  LockGuard guard(g_init_lock);
  if (g_initialised.load(std::memory_order_relaxed)) return true;
  // 64 GiB of address space, else 16, 4 or 1 (nothing is committed until touched).
  const PoolShape shape{size_t(64) << 30, size_t(1) << 30, 2, kSlabShift, 4, sizeof(SlabMeta)};
  PoolReservation range;
  if (!reserve_pool_range(shape, &range)) return false;
  void* classes = os::reserve(round_up(range.slabs, kPageSize));
  if (!classes) {
    release_pool_range(range);
    return false;
  }
  const uintptr_t base = uintptr_t(range.base);
  g_pool.base = base;
  g_pool.free_key = free_key_for(base);
  g_pool.slot_states = range.states;
  g_pool.slabs = static_cast<SlabMeta*>(range.records);
  g_pool.slab_classes = static_cast<uint8_t*>(classes);
  g_pool.num_slabs = range.slabs;
  g_pool.state_bias = uintptr_t(range.states) - (base >> 4);
  g_pool.granules = range.bytes >> 4;
  g_pool.usable_bytes = range.bytes;
  g_initialised.store(true, std::memory_order_release);
  return true;
}

SlabMeta* slab_acquire(unsigned size_class) {
  LockGuard guard(g_arena_lock);
  SlabMeta* slab = nullptr;
  bool resident = false;
  if (!g_empty.empty()) {
    slab = &g_pool.slabs[g_empty.pop_front(g_pool.slabs, kSlabFull)];
    resident = true;
    // Its blocks' state bytes are still set (purged slabs read back zeros).
    memset(slab_states(slab), kSlotNone, kSlabStateBytes);
  } else if (!g_purged.empty()) {
    slab = &g_pool.slabs[g_purged.pop_front(g_pool.slabs, kSlabFull)];
  } else if (g_next_fresh_slab < g_pool.num_slabs) {
    slab = &g_pool.slabs[g_next_fresh_slab];
    if (g_next_fresh_slab >= g_resident_fresh_end)
      if (size_t resident_slabs = huge_region_begin(slab_data(slab), g_next_fresh_slab * kSlabSize,
                                                    g_pool.num_slabs - g_next_fresh_slab, slab_states(slab),
                                                    kHugeRegionSlabs * kSlabStateBytes))
        g_resident_fresh_end = g_next_fresh_slab + resident_slabs;
    resident = g_next_fresh_slab < g_resident_fresh_end;
    ++g_next_fresh_slab;
  } else {
    return nullptr;
  }
  const SizeClassInfo& info = kSizeClasses[size_class];
  slab->free = nullptr;
  slab->used = 0;
  slab->carved = 0;
  slab->capacity = info.capacity;
  slab->size_class = uint8_t(size_class);
  slab->pages_ready = resident ? uint8_t(kSlabSize / kPageSize) : 0;
  slab->list = kSlabFull;
  slab->prev = slab->next = kNoSlab;
  g_pool.slab_classes[slab_number(slab)] = uint8_t(size_class);
  ++g_in_use_count;
  return slab;
}

void slab_release(SlabMeta* slab) {
  uint64_t now = os::coarse_now_ns();
  LockGuard guard(g_arena_lock);
  --g_in_use_count;
  slab->empty_since_ns = now;
  g_empty.push_front(g_pool.slabs, slab_number(slab));
  purge_expired(now, config().purge_delay_ms * 1000000ull);
}

size_t pool_purge_all() {
  LockGuard guard(g_arena_lock);
  return purge_expired(os::coarse_now_ns(), 0);
}

size_t pool_purge_expired() {
  uint64_t now = os::coarse_now_ns();
  LockGuard guard(g_arena_lock);
  return purge_expired(now, config().purge_delay_ms * 1000000ull);
}

PoolArenaStats pool_arena_stats() {
  LockGuard guard(g_arena_lock);
  return PoolArenaStats{g_in_use_count, g_empty.size(), g_purged.size(), g_pool.num_slabs - g_next_fresh_slab};
}

SpinLock& pool_arena_lock() { return g_arena_lock; }

}  // namespace memf

namespace memf {

bool pool_enable_slot_info() {
  if (!pool_init()) return false;
  LockGuard guard(g_init_lock);
  if (g_pool.slot_info) return true;
  void* table = os::reserve(g_pool.num_slabs * kMaxSlotsPerSlab * sizeof(SlotInfo));
  if (!table) return false;
  __atomic_store_n(&g_pool.slot_info, static_cast<SlotInfo*>(table), __ATOMIC_RELEASE);
  return true;
}

size_t pool_slabs_touched() {
  LockGuard guard(g_arena_lock);
  return g_next_fresh_slab;
}

}  // namespace memf
