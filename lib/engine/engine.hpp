// The allocator's entry points. interpose/ exports each C and C++ symbol as one call to a
// function here. The small-object fast paths are inline: table lookup, pop or push on this
// thread's cache, the block's free mark. No lock, no atomic, no write to any line but the block's
// own and the thread's cache.
#pragma once
#include <cstddef>
#include <cstdint>
#include <new>

#include "compiler.hpp"
#include "config.hpp"
#include "free_mark.hpp"
#include "pool_arena.hpp"
#include "size_classes.hpp"
#include "stack_origin.hpp"
#include "thread_cache.hpp"

namespace memf {

// Larger requests fail with ENOMEM before reaching any backend (C's objects are <= PTRDIFF_MAX).
constexpr size_t kMaxRequest = size_t(PTRDIFF_MAX);

MEMF_NOINLINE void* malloc_slow(size_t size);
MEMF_NOINLINE void free_slow(void* p);
MEMF_NOINLINE void* new_slow(size_t size);
// The bin of freed_block's class went over its max (freed_block is already on it).
MEMF_NOINLINE void cache_overflow(void* freed_block);

// Pops the first block of this thread's bin, or nullptr when the bin is empty, when the block is
// the heap profile's sample (counted here, recorded by the slow path) or when it fails its check.
MEMF_ALWAYS_INLINE void* bin_try_pop(CacheBin& bin) {
  FreeBlock* block = bin.head;
  if (MEMF_LIKELY(block != nullptr)) {
    // The heap profile's sample stops here, counted, for the slow path to record it.
    if (MEMF_UNLIKELY(--bin.sample_left < 0)) return nullptr;
    // The link is followed only when the block's mark vouches for it (core/free_mark.hpp);
    // otherwise the slow path, popping the same block, reports it (counting the allocation
    // a second time: the one inexact count, after heap corruption).
    if (MEMF_UNLIKELY(!follow_link(g_pool.free_key, block, &bin.head))) return nullptr;
    // The next pop reads the new head's link. A refill that took a slab's list whole handed the
    // bin blocks freed long ago (cold lines): started now, that miss overlaps the program's work
    // until the class's next allocation instead of stalling it (prefetch never faults).
    __builtin_prefetch(bin.head);
    mark_block_live(block);
    ++bin.room;
    return block;
  }
  return nullptr;
}

// Pops a block of the class of size from this thread's cache, or nullptr (any other case: size
// above the pool limit, empty bin, thread not set up, allocations being recorded one by one, a
// bin whose first block fails its check). Sizes up to kDirectSizeLimit find their bin in the
// thread's direct table; larger pool sizes by the class table, one branch further.
MEMF_ALWAYS_INLINE void* pool_try_alloc(size_t size) {
  ThreadCache& cache = t_cache;
  if (MEMF_LIKELY(size < cache.fast_alloc_bound)) return bin_try_pop(*cache.bin_of_size[size_lookup_index(size)]);
  if (size < cache.medium_alloc_bound) return bin_try_pop(cache.bins[size_to_class(size)]);
  return nullptr;
}

// Pushes p on this thread's cache when it is a live untagged pool block; false for everything
// else (not a pool block, misaligned, not a block start, already free, tagged) which the slow
// path sorts out.
MEMF_ALWAYS_INLINE bool pool_try_free(void* p) {
  const size_t granule = pool_granule(p);
  if (MEMF_LIKELY(granule < g_pool.granules)) {
    // Untagged block starts only: tagged ones are accounted to their category on the slow path.
    const uintptr_t key = g_pool.free_key;
    FreeBlock* block = static_cast<FreeBlock*>(p);
    if (MEMF_LIKELY(g_pool.slot_states[granule] == kSlotAllocated && !block_is_free(key, block))) {
      const unsigned cls = g_pool.slab_classes[granule >> (kSlabShift - 4)];
      if (MEMF_UNLIKELY(push_on_bin(key, t_cache.bins[cls], block) < 0)) cache_overflow(p);
      return true;
    }
  }
  return false;
}

MEMF_ALWAYS_INLINE void* engine_malloc(size_t size) {
  void* p = pool_try_alloc(size);
  return MEMF_LIKELY(p != nullptr) ? p : malloc_slow(size);
}

MEMF_ALWAYS_INLINE void engine_free(void* p) {
  if (MEMF_LIKELY(pool_try_free(p))) return;
  free_slow(p);
}

// operator new: throws std::bad_alloc after the new_handler gave up.
MEMF_ALWAYS_INLINE void* engine_new(size_t size) {
  void* p = pool_try_alloc(size);
  return MEMF_LIKELY(p != nullptr) ? p : new_slow(size);
}

void* engine_calloc(size_t count, size_t size);
void* engine_realloc(void* p, size_t size);
void* engine_reallocarray(void* p, size_t count, size_t size);
int engine_posix_memalign(void** out, size_t alignment, size_t size);
void* engine_aligned_alloc(size_t alignment, size_t size);
void* engine_memalign(size_t alignment, size_t size);
void* engine_valloc(size_t size);
void* engine_pvalloc(size_t size);
size_t engine_usable_size(const void* p);

void* engine_new_nothrow(size_t size) noexcept;
void* engine_new_aligned(size_t size, size_t alignment);
void* engine_new_aligned_nothrow(size_t size, size_t alignment) noexcept;

// Whether memf owns p as a live block (pool or large).
bool engine_owns(const void* p);

// Recording every allocation (the leak checker's mode): from now on each allocation takes the
// slow path, which keeps its requested size and a stack id in the block's record (slot records
// for pool blocks, the large table otherwise). stack_hook gives the id of the stack starting at
// origin (0 for none): it is the track layer's (track/allocation_stacks.hpp); it runs inside
// malloc, so it must not allocate. False (nothing changed) when the records cannot be kept.
using StackHook = uint32_t (*)(const StackOrigin& origin, size_t size);
bool engine_record_every_allocation(StackHook stack_hook);

}  // namespace memf
