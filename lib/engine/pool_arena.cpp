#include "pool_arena.hpp"

#include <cstring>

#include <sys/auxv.h>

#include "config.hpp"

namespace memf {

constinit PoolRange g_pool = {};

namespace {

constinit SpinLock g_arena_lock;
constinit SpinLock g_init_lock;
constinit std::atomic<bool> g_initialised{false};
size_t g_next_fresh_slab = 0;
// Doubly linked, most recently emptied at the head; the tail is the oldest (next to purge).
SlabMeta* g_empty_head = nullptr;
SlabMeta* g_empty_tail = nullptr;
SlabMeta* g_purged_head = nullptr;  // singly linked via next
size_t g_empty_count = 0;
size_t g_purged_count = 0;
size_t g_in_use_count = 0;

// Address space only (nothing is committed until touched); smaller ranges if the larger fail.
constexpr size_t kReserveAttempts[] = {size_t(64) << 30, size_t(16) << 30, size_t(4) << 30, size_t(1) << 30};

void empty_unlink(SlabMeta* slab) {
  if (slab->prev) slab->prev->next = slab->next;
  else g_empty_head = slab->next;
  if (slab->next) slab->next->prev = slab->prev;
  else g_empty_tail = slab->prev;
  slab->prev = slab->next = nullptr;
  --g_empty_count;
}

// The slab's state bytes: one page (a byte per 16-byte granule of its 64 KiB).
uint8_t* slab_states(const SlabMeta* slab) {
  return g_pool.slot_states + (size_t(slab - g_pool.slabs) << (kSlabShift - 4));
}
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
  while (g_empty_tail && now - g_empty_tail->empty_since_ns >= delay_ns) {
    SlabMeta* slab = g_empty_tail;
    empty_unlink(slab);
    purge_slab_pages(slab);
    slab->list = kSlabPurged;
    slab->next = g_purged_head;
    g_purged_head = slab;
    ++g_purged_count;
    released += kSlabSize;
  }
  return released;
}

}  // namespace

uintptr_t free_key_for(uintptr_t base) {
  uint64_t words[2] = {0x9e3779b97f4a7c15ull, 0};
  if (const void* random = reinterpret_cast<const void*>(getauxval(AT_RANDOM))) memcpy(words, random, sizeof(words));
  return uintptr_t(words[0] ^ (words[1] << 1) ^ base) | 1;
}

bool pool_init() {
  if (g_initialised.load(std::memory_order_acquire)) return true;
  LockGuard guard(g_init_lock);
  if (g_initialised.load(std::memory_order_relaxed)) return true;
  for (size_t bytes : kReserveAttempts) {
    void* data = os::reserve(bytes);
    if (!data) continue;
    // Align the range to a slab so that slab_of is a plain shift of the offset.
    uintptr_t base = round_up(uintptr_t(data), kSlabSize);
    size_t num_slabs = (bytes - (base - uintptr_t(data))) / kSlabSize - 1;
    void* states = os::reserve(num_slabs * (kSlabSize >> 4));
    void* metas = os::reserve(round_up(num_slabs * sizeof(SlabMeta), kPageSize));
    void* classes = os::reserve(round_up(num_slabs, kPageSize));
    if (!states || !metas || !classes) {
      if (states) os::unmap(states, num_slabs * (kSlabSize >> 4));
      if (metas) os::unmap(metas, round_up(num_slabs * sizeof(SlabMeta), kPageSize));
      if (classes) os::unmap(classes, round_up(num_slabs, kPageSize));
      os::unmap(data, bytes);
      continue;
    }
    g_pool.base = base;
    g_pool.free_key = free_key_for(base);
    g_pool.slot_states = static_cast<uint8_t*>(states);
    g_pool.slabs = static_cast<SlabMeta*>(metas);
    g_pool.slab_classes = static_cast<uint8_t*>(classes);
    g_pool.num_slabs = num_slabs;
    g_pool.state_bias = uintptr_t(states) - (base >> 4);
    g_pool.granules = (num_slabs * kSlabSize) >> 4;
    g_pool.usable_bytes = num_slabs * kSlabSize;
    g_initialised.store(true, std::memory_order_release);
    return true;
  }
  return false;
}

SlabMeta* slab_acquire(unsigned size_class) {
  LockGuard guard(g_arena_lock);
  SlabMeta* slab = nullptr;
  if (g_empty_head) {
    slab = g_empty_head;
    empty_unlink(slab);
    // Its blocks' state bytes are still set (purged slabs read back zeros).
    memset(slab_states(slab), kSlotNone, kSlabStateBytes);
  } else if (g_purged_head) {
    slab = g_purged_head;
    g_purged_head = slab->next;
    --g_purged_count;
  } else if (g_next_fresh_slab < g_pool.num_slabs) {
    slab = &g_pool.slabs[g_next_fresh_slab++];
  } else {
    return nullptr;
  }
  const SizeClassInfo& info = kSizeClasses[size_class];
  slab->free_list = nullptr;
  slab->used = 0;
  slab->carved = 0;
  slab->capacity = info.capacity;
  slab->size_class = uint8_t(size_class);
  slab->list = kSlabInUse;
  slab->prev = slab->next = nullptr;
  g_pool.slab_classes[slab - g_pool.slabs] = uint8_t(size_class);
  ++g_in_use_count;
  return slab;
}

void slab_release(SlabMeta* slab) {
  uint64_t now = os::now_ns();
  LockGuard guard(g_arena_lock);
  --g_in_use_count;
  slab->list = kSlabEmpty;
  slab->empty_since_ns = now;
  slab->prev = nullptr;
  slab->next = g_empty_head;
  if (g_empty_head) g_empty_head->prev = slab;
  else g_empty_tail = slab;
  g_empty_head = slab;
  ++g_empty_count;
  purge_expired(now, config().purge_delay_ms * 1000000ull);
}

size_t pool_purge_all() {
  LockGuard guard(g_arena_lock);
  return purge_expired(os::now_ns(), 0);
}

size_t pool_purge_expired() {
  uint64_t now = os::now_ns();
  LockGuard guard(g_arena_lock);
  return purge_expired(now, config().purge_delay_ms * 1000000ull);
}

PoolArenaStats pool_arena_stats() {
  LockGuard guard(g_arena_lock);
  return PoolArenaStats{g_in_use_count, g_empty_count, g_purged_count, g_pool.num_slabs - g_next_fresh_slab};
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
