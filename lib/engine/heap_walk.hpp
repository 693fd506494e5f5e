// Enumerating what the engine has handed out, for the leak checker and the tracker's snapshots.
#pragma once
#include <cstddef>
#include <cstdint>

#include "address_range.hpp"

namespace memf {

struct LiveBlock {
  uintptr_t address;
  size_t size;        // bytes the program asked for where recorded (leak-check mode, large blocks),
                      // else the block's usable size
  uint32_t stack_id;  // stack depot id of the allocating stack, 0 when none was captured
  uint8_t category;   // category tag (accounting.hpp; kCategoryUnknown when never set)
  bool large;         // true for blocks outside the pools (mimalloc or whole mappings)
};

// Visits every live block: pool blocks in ascending address order, then large blocks (in no
// particular order). visit returns false to stop early. Allocation by other threads during the
// walk may or may not be seen; the walk itself never allocates. Returns the blocks visited.
using LiveBlockVisitor = bool (*)(const LiveBlock& block, void* context);
size_t heap_walk(LiveBlockVisitor visit, void* context);

// Address ranges that hold the allocator's own bookkeeping (slab metadata, slot states, the
// large-block table, thread-cache registry...): a conservative scan must not treat them as roots.
size_t allocator_metadata_ranges(AddressRange* out, size_t capacity);

// An address inside the stack of every thread that has allocated and not exited (taken when the
// thread's cache was set up): /proc/self/maps then tells each stack's mapping.
size_t thread_stack_hints(uintptr_t* out, size_t capacity);

}  // namespace memf
