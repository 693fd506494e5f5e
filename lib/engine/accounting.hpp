// What the engine counts as it allocates: bytes per category tag, the running total of live
// bytes and its peak, memory recorded from outside (MemoryTracker::recordAllocation), and the two
// hooks through which a limit reaches the allocation path. The tracker (track/) names the tags
// and turns these figures into statistics; the pressure layer installs the hooks. The engine
// knows neither.
//
// Untagged allocations (tag kCategoryUnknown) cost nothing here: their figures come from the
// thread caches' counters (thread_cache.hpp) and the large-block table. An allocation made under
// another tag takes the slow path and is added to its tag's counters; its free is recognised by
// the tag in the block's state byte and subtracted again.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

// Tags 1..254 name categories; tag 1 is untagged ("Unknown"); 0 is never a live block's tag, nor
// is 255 (a pool block's state byte then says the heap profile records it, pool_arena.hpp).
constexpr uint8_t kCategoryUnknown = 1;
// Memory memf allocates for itself through its own malloc (its API's singletons and registries,
// the leak report's symbolizer): not the program's. Its bytes and counts are left out of the
// running total, its peak and the process's statistics; the leak checker treats its blocks as
// in use and never reports them.
constexpr uint8_t kCategoryInternal = 2;
constexpr unsigned kMaxCategories = 254;

// Called for tagged blocks only (tag != kCategoryUnknown).
void category_account_alloc(uint8_t tag, size_t bytes);
void category_account_free(uint8_t tag, size_t bytes);

struct TagUsage {
  uint64_t current_bytes;
  uint64_t peak_bytes;
  uint64_t allocations;
  uint64_t allocated_bytes;
  uint64_t frees;
};
TagUsage tag_usage(uint8_t tag);
// Raises tag's recorded peak to bytes if higher (the tracker computes untagged usage itself).
void raise_tag_peak(uint8_t tag, uint64_t bytes);

// Memory memf did not allocate but the program asks to track (GPU buffers, mmaps...): counted in
// its tag and in the running total, as the limit sees it.
void external_account(uint8_t tag, int64_t bytes, bool is_allocation);
struct ExternalUsage {
  int64_t current_bytes;
  uint64_t allocations;
  uint64_t allocated_bytes;
  uint64_t frees;
};
ExternalUsage external_usage();

// The running total of live bytes: pool bytes (each thread adds its change on its slow paths,
// thread_cache.cpp), large bytes and external bytes. It lags the truth by at most one cache band
// per class per thread.
uint64_t running_total_bytes();
// A new running total of pool bytes (large and external bytes are added here).
void note_pool_usage(int64_t pool_bytes);
// Live large-block bytes change by bytes (the large path).
void large_running_add(int64_t bytes);
// Raises the recorded peak to current if higher; the peak so far.
void note_usage(uint64_t current);
uint64_t peak_usage();

// The hooks a limit uses. The allocator calls them from its slow paths only, with no allocator
// lock held; the fast paths never look at them.
//
// The running total reached the watermark: wake whoever watches, nothing more.
using WatermarkHook = void (*)(uint64_t total_bytes);
// An allocation of `bytes` would take the total past the hard limit: free memory and say whether
// it may proceed. Re-entrant calls (the hook allocating) are not made: the allocation then
// simply proceeds.
using AdmitHook = bool (*)(uint64_t total_bytes, size_t bytes);
void set_watermark_hook(WatermarkHook hook);  // nullptr removes it
void set_admit_hook(AdmitHook hook);          // nullptr removes it
void set_usage_watermark(uint64_t bytes);     // UINT64_MAX (default) = none
void set_hard_limit(uint64_t bytes);          // 0 (default) = none
// The allocator's question before taking `bytes` more (a refill batch, a large block).
bool admit_allocation(size_t bytes);

}  // namespace memf
