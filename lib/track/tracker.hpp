// The tracker: category names and scopes, the process's allocation statistics, snapshots by
// category, and memf's own memory limit. The counting itself is the engine's
// (engine/accounting.hpp); this names it and reports it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "accounting.hpp"

namespace memf {

constexpr size_t kMaxCategoryName = 47;

// The tag of name (registered on first use); kCategoryUnknown when the table is full.
uint8_t category_intern(const char* name);
// The name of a tag: "Unknown" for kCategoryUnknown, "?" for a tag never issued.
const char* category_name(uint8_t tag);
// Scopes: push makes name the thread's category until the matching pop. Nesting up to 14 deep;
// deeper pushes keep the current category (and their pops are matched).
void category_push(const char* name);
void category_push_tag(uint8_t tag);
void category_pop();
uint8_t current_category();

// While one lives, the calling thread's allocations are memf's own (kCategoryInternal): for
// memory memf keeps for itself on the program's behalf (API singletons and registries, the leak
// report). Blocks freed under it or not are accounted by the tag they were allocated with.
class InternalAllocations {
 public:
  InternalAllocations() { category_push_tag(kCategoryInternal); }
  ~InternalAllocations() { category_pop(); }
  InternalAllocations(const InternalAllocations&) = delete;
  InternalAllocations& operator=(const InternalAllocations&) = delete;
};

struct CategoryUsage {
  const char* name;
  uint64_t current_bytes;
  uint64_t peak_bytes;
  uint64_t allocations;
};
// Copies up to capacity categories (Unknown first; memf's own kCategoryInternal is not one);
// returns how many exist.
size_t category_snapshot(CategoryUsage* out, size_t capacity);
// Categories that were refused because the table was full.
uint64_t category_overflow_count();

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

// memf's own memory limit: what memf_set_limit set, MEMF_LIMIT until then; 0 = none. Only the
// value: api/limit.cpp is the one place that sets it and tells the pressure monitor.
void set_memory_limit(uint64_t bytes);
uint64_t memory_limit();

}  // namespace memf
