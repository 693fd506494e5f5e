// The tracker: categories, per-category usage, and the process's allocation statistics.
//
// Untagged allocations (category "Unknown") cost nothing here: their figures come from the
// thread caches' counters (thread_cache_usage) and the large-block table. An allocation made
// inside a category scope takes the slow path and is added to its category's atomic counters;
// its free is recognised by the tag in the block's state byte and subtracted again.
#pragma once
#include <cstddef>
#include <cstdint>

#include "heap_walk.hpp"

namespace memf {

constexpr unsigned kMaxCategories = 255;  // tags 1..255; 1 is "Unknown"
constexpr size_t kMaxCategoryName = 47;

// The tag of name (registered on first use); kCategoryUnknown when the table is full.
uint8_t category_intern(const char* name);
// Scopes: push makes name the thread's category until the matching pop. Nesting up to 14 deep;
// deeper pushes keep the current category (and their pops are matched).
void category_push(const char* name);
void category_pop();
uint8_t current_category();

// Called for tagged blocks only (tag != kCategoryUnknown).
void category_account_alloc(uint8_t tag, size_t bytes);
void category_account_free(uint8_t tag, size_t bytes);

struct CategoryUsage {
  const char* name;
  uint64_t current_bytes;
  uint64_t peak_bytes;
  uint64_t allocations;
};
// Copies up to capacity categories (Unknown first); returns how many exist.
size_t category_snapshot(CategoryUsage* out, size_t capacity);
// Categories that were refused because the table was full.
uint64_t category_overflow_count();

// Memory memf did not allocate but the program asks to track (GPU buffers, mmaps...).
void external_account(uint8_t tag, int64_t bytes, bool is_allocation);

struct ProcessStats {
  uint64_t current_bytes;
  uint64_t peak_bytes;
  uint64_t total_allocated_bytes;
  uint64_t total_freed_bytes;
  uint64_t allocations;
  uint64_t frees;
  uint64_t limit_bytes;  // 0 = none
};
// Pool blocks count their size class, large blocks the bytes requested. Exact but for other
// threads' operations since their last slow path (at most one cache band per class per thread).
ProcessStats process_stats();
// Raises the recorded peak to `current` if higher; called on slow paths.
void note_usage(uint64_t current);
// The same from a new running total of pool bytes (large and external bytes are added here).
void note_pool_usage(int64_t pool_bytes);
// Running total of live large-block bytes, kept by the large path.
void large_running_add(int64_t bytes);

// Hooks for the pressure monitor. The allocator calls them from its slow paths only, with no
// allocator lock held; the fast paths never look at them.
struct PressureHooks {
  // The running total of live bytes reached the watermark: wake the monitor, nothing more.
  void (*on_watermark)(uint64_t total_bytes);
  // An allocation of `bytes` would take the total past the hard limit: free memory (the
  // optimizer) and say whether it may proceed. Re-entrant calls (the hook allocating) are not
  // made: the allocation then simply proceeds.
  bool (*admit)(uint64_t total_bytes, size_t bytes);
};
void set_pressure_hooks(const PressureHooks* hooks);  // nullptr removes them
void set_pressure_watermark(uint64_t bytes);         // UINT64_MAX (default) = none
void set_hard_limit(uint64_t bytes);                 // 0 (default) = none
// The allocator's question before taking `bytes` more (a refill batch, a large block).
bool pressure_admit(size_t bytes);
// The running total of live bytes (pool running total + large + external), as the hooks see it.
uint64_t running_total_bytes();

// fork(): the category table's lock is held across fork like the engine's own.
void tracker_lock_all();
void tracker_unlock_all();
void tracker_reset_after_fork();

// The limit memf_set_limit / setMemoryLimit set (MEMF_LIMIT until then); 0 = none.
void set_memory_limit(uint64_t bytes);
uint64_t memory_limit();

}  // namespace memf
