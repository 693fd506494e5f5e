// The pools' reserved virtual range. Block memory, slab metadata and per-slot state bytes live
// in three separate reservations, so user writes never touch metadata and "is this pointer
// ours?" is one subtraction and one compare.
#pragma once
#include <cstddef>
#include <cstdint>

#include "accounting.hpp"
#include "compiler.hpp"
#include "free_mark.hpp"
#include "size_classes.hpp"
#include "slab_list.hpp"
#include "spin_lock.hpp"

namespace memf {

// Where a slab is (its SlabRecord::list): a slab never used, or assigned to a class and on no
// list (every slot carved and out), on its class's partial list (central.hpp), or on the
// arena's lists of empty and purged slabs.
enum SlabState : uint8_t { kSlabUnused = 0, kSlabFull, kSlabPartial, kSlabEmpty, kSlabPurged };

// Per-slab bookkeeping (the core's record, and what the engine adds), owned by the size class's
// central lock while the slab is assigned to a class and by the arena lock while it is empty.
struct SlabMeta : SlabRecord {
  uint16_t capacity;
  uint8_t size_class;
  // Pages from the slab's start known to be resident: 0 for a fresh or purged slab, all of them
  // for one recycled while its pages were still committed (central.cpp's carve-ahead).
  uint8_t pages_ready;
  uint8_t shard;  // the centre shard whose lists hold the slab (central.hpp): set when it is acquired or adopted
  uint64_t empty_since_ns;
};
static_assert(sizeof(SlabMeta) == 48, "slab metadata layout");

// Slot state bytes: one per 16-byte granule of the range. The byte of a carved block's first
// granule is non-zero: the category tag of the block's allocation (accounting.hpp),
// kSlotAllocated (= kCategoryUnknown) when untagged; every other byte is kSlotNone (a slot never carved since its
// slab was assigned, or not a block start). Whether a carved block is free or with the program is
// its free mark, in the block's own second word. So the fast paths read state bytes but never
// write them: the state lines of blocks that two threads pass between them stay shared-clean,
// and a free writes only the block's own line (docs/design.md, "The pools' address space").
constexpr uint8_t kSlotNone = 0;
constexpr uint8_t kSlotAllocated = 1;
// An untagged block the heap profile records (profile_sampling.hpp): its free misses the fast
// path, and the free is recorded too. Above every category tag (accounting.hpp).
constexpr uint8_t kSlotProfiled = 255;
// The category tag of a live block whose state byte is state.
MEMF_ALWAYS_INLINE uint8_t slot_category(uint8_t state) { return state == kSlotProfiled ? kCategoryUnknown : state; }

struct SlotInfo;

// Read on every malloc and free; written once by pool_init. What the fast paths read is in the
// first cache line.
struct alignas(64) PoolRange {
  uintptr_t base;
  uintptr_t free_key;     // the range's secret (core/free_mark.hpp)
  size_t granules;        // usable_bytes / 16
  uintptr_t state_bias;   // slot_states - base / 16: the state of block p is at state_bias + p / 16
  uint8_t* slot_states;   // one byte per 16-byte granule
  uint8_t* slab_classes;  // one byte per slab, written when the slab is assigned
  size_t usable_bytes;    // 0 until initialised: every pointer is then "not ours"
  SlabMeta* slabs;
  size_t num_slabs;
  SlotInfo* slot_info;  // num_slabs * kMaxSlotsPerSlab records, or nullptr
};
extern PoolRange g_pool MEMF_HIDDEN;

bool pool_init();  // idempotent; false if no range could be reserved

MEMF_ALWAYS_INLINE size_t pool_offset(const void* p) { return uintptr_t(p) - g_pool.base; }
MEMF_ALWAYS_INLINE bool pool_contains(const void* p) { return pool_offset(p) < g_pool.usable_bytes; }
MEMF_ALWAYS_INLINE uint8_t& slot_state(const void* p) {
  return *reinterpret_cast<uint8_t*>(g_pool.state_bias + (uintptr_t(p) >> 4));
}
// The granule index of p when p is 16-byte aligned; a huge number (>= granules) when it is not
// or when p is outside the range: one rotate and one compare test both.
MEMF_ALWAYS_INLINE size_t pool_granule(const void* p) {
  const size_t offset = uintptr_t(p) - g_pool.base;
  return (offset >> 4) | (offset << 60);
}
// A carved block is free (in a thread cache, a transfer batch or its slab's free list) when its
// second word holds its free mark (core/free_mark.hpp), with the range's secret.
MEMF_ALWAYS_INLINE bool block_is_free(const void* p) { return block_is_free(g_pool.free_key, p); }
MEMF_ALWAYS_INLINE void make_free(FreeBlock* block, const FreeBlock* next) { make_free(g_pool.free_key, block, next); }
MEMF_ALWAYS_INLINE bool follow_link(const FreeBlock* block, FreeBlock** next) {
  return follow_link(g_pool.free_key, block, next);
}
// Whether p is the start of a carved block of class cls, free or not (a link read from a free
// block must be one before it is followed).
MEMF_ALWAYS_INLINE bool is_block_start_of_class(const void* p, unsigned cls) {
  const size_t granule = pool_granule(p);
  return granule < g_pool.granules && g_pool.slot_states[granule] != kSlotNone &&
         g_pool.slab_classes[granule >> (kSlabShift - 4)] == cls;
}
// Whether p is the start of a pool block the program holds (false for anything else: outside
// the range, misaligned, not a block start, free).
MEMF_ALWAYS_INLINE bool pool_block_live(const void* p) {
  const size_t granule = pool_granule(p);
  return granule < g_pool.granules && g_pool.slot_states[granule] != kSlotNone && !block_is_free(p);
}

MEMF_ALWAYS_INLINE size_t slab_index(const void* p) { return pool_offset(p) >> kSlabShift; }
MEMF_ALWAYS_INLINE SlabMeta* slab_of(const void* p) { return &g_pool.slabs[slab_index(p)]; }
MEMF_ALWAYS_INLINE uint32_t slab_number(const SlabMeta* slab) { return uint32_t(slab - g_pool.slabs); }
inline char* slab_data(const SlabMeta* slab) { return reinterpret_cast<char*>(g_pool.base + (size_t(slab_number(slab)) << kSlabShift)); }

// Takes an empty slab (recently emptied first, then purged ones, then never used) and assigns it
// to size_class; nullptr when the range is exhausted. Caller holds the class's central lock.
SlabMeta* slab_acquire(unsigned size_class);
// Takes back a slab with no blocks out. Its pages are returned to the OS once it has stayed
// empty for the purge delay (the next acquire/release past the delay does it).
void slab_release(SlabMeta* slab);
// Returns every empty slab's pages to the OS now; the bytes released.
size_t pool_purge_all();
// Returns the pages of slabs empty for longer than the purge delay; the bytes released.
size_t pool_purge_expired();

struct PoolArenaStats {
  size_t slabs_in_use;
  size_t slabs_empty;   // committed, waiting for reuse or purge
  size_t slabs_purged;  // pages returned to the OS
  size_t slabs_never_used;
};
PoolArenaStats pool_arena_stats();

SpinLock& pool_arena_lock();

// Per-slot records kept only while every allocation is recorded (leak check): the requested
// size and the allocating stack. Indexed densely by slot, so a slab of large blocks touches
// little of its table.
struct SlotInfo {
  uint32_t stack_id;
  uint32_t requested;  // with kSlotInfoProfiled while the heap profile records the block
};
// Set while the block is live and recorded by the heap profile; cleared by its free. Records of
// other blocks are current only while every allocation is recorded (g_record_all).
constexpr uint32_t kSlotInfoProfiled = 0x80000000u;
constexpr size_t kMaxSlotsPerSlab = kSlabSize / kMinAlign;
// Reserves the table (address space only); idempotent; false if it cannot be reserved.
bool pool_enable_slot_info();
// The record of the block starting at p, or nullptr when records are not kept.
// cls: the class of p's slab, when the caller has it.
MEMF_ALWAYS_INLINE SlotInfo* slot_info_in_class(const void* p, unsigned cls) {
  SlotInfo* table = __atomic_load_n(&g_pool.slot_info, __ATOMIC_ACQUIRE);
  if (!table) return nullptr;
  const size_t slot = ((pool_offset(p) & (kSlabSize - 1)) * kSizeClasses[cls].reciprocal) >> 32;
  return &table[slab_index(p) * kMaxSlotsPerSlab + slot];
}
MEMF_ALWAYS_INLINE SlotInfo* slot_info(const void* p) { return slot_info_in_class(p, g_pool.slab_classes[slab_index(p)]); }
// Slabs [0, n) have been used at some point; the others never.
size_t pool_slabs_touched();

}  // namespace memf
