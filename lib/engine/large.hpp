// Blocks above the pool limit. Up to the huge threshold they come from mimalloc; from it on they
// are whole mappings of memf's own, kept in a bounded cache after free so that reusing them costs
// no page faults. Every large block is recorded in a lock-striped table: free() knows a large
// block from a pointer memf never handed out, and only the former reaches mi_free or munmap.
#pragma once
#include <cstddef>
#include <cstdint>

#include "accounting.hpp"

namespace memf {

enum class LargeKind : uint8_t { kMimalloc = 1, kMapping = 2 };

struct LargeRecord {
  size_t requested;  // bytes the program asked for
  size_t usable;     // bytes it may use (in the table: mappings only; see large_lookup)
  LargeKind kind;
  uint8_t category;  // tracker tag
  bool profiled;     // the heap profile records this block (profile_sampling.hpp)
  uint32_t stack_id;  // allocating stack (stack depot), 0 = none
};

// Visits every live large block under its stripe's lock (visit must not allocate large blocks).
void large_for_each(bool (*visit)(const void* address, const LargeRecord& record, void* context), void* context);
// The large-block table's own storage, for the leak checker to leave out of its roots: at most
// kMaxLargeTableRanges ranges (the stripes' shared first slots and each stripe's own mapping).
constexpr size_t kMaxLargeTableRanges = 65;
size_t large_table_ranges(uintptr_t* begins, uintptr_t* ends, size_t capacity);

// alignment: a power of two >= 16. zero: the block must read as zero. category and stack_id
// are the block's record (accounting.hpp, the stack depot's id).
// profiled: the heap profile records the block (it is told here, and of its free).
void* large_alloc(size_t size, size_t alignment, bool zero, uint8_t category = kCategoryUnknown, uint32_t stack_id = 0,
                  bool profiled = false);
// false when p is not a live large block (nothing is done then).
bool large_free(void* p);
// false when p is not a live large block. The record's usable size is mimalloc's answer for its
// blocks, asked here: the table keeps it for mappings only, so that an allocation does not ask.
bool large_lookup(const void* p, LargeRecord* record);
// Resizes a live large block in place or by moving it (mremap for mappings, mimalloc's
// mi_expand/mi_realloc otherwise); nullptr with p untouched on failure. A profiled block's
// resize is recorded as its free and a new allocation, sampled afresh.
void* large_realloc(void* p, size_t new_size);

// Unmaps every cached mapping; the bytes released.
size_t large_release_cache();

struct LargeStats {
  size_t live_blocks;
  size_t live_bytes;        // requested bytes of live large blocks
  uint64_t allocations;     // large blocks ever allocated
  uint64_t frees;
  uint64_t allocated_bytes;  // requested bytes ever allocated
  size_t cached_mappings;
  size_t cached_bytes;
  uint64_t mapping_cache_hits;
  uint64_t mapping_cache_misses;
};
LargeStats large_stats();

// fork(): every stripe and the mapping cache are locked in the parent around fork.
void large_lock_all();
void large_unlock_all();
void large_reset_locks_after_fork();

// The block table's hash of a block's address: its top 6 bits pick the stripe, its low bits the
// slot (exposed for tests).
uint64_t large_table_hash(uintptr_t address);

}  // namespace memf
