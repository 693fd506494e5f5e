// Reports misuse of the allocator (double free, interior or foreign pointers) as one line on
// stderr, then aborts or carries on as MEMF_ON_ERROR says. The heap is left as it was.
#pragma once
#include <cstddef>

namespace memf {

enum class BadPointer {
  kDoubleFree,       // a pool block's start whose state is already free
  kInteriorPointer,  // inside a pool block, not at its start
  kNotAllocated,     // inside the pool range where no block is live
  kForeign,          // outside everything memf handed out
};

struct BadPointerDetail {
  size_t class_size = 0;             // pool cases: the size class
  const void* block_start = nullptr;  // kInteriorPointer: the enclosing block
};

// operation: "free", "realloc", "malloc_usable_size", "operator delete", ...
void report_bad_pointer(const char* operation, const void* pointer, BadPointer kind, const BadPointerDetail& detail);

// Classifies a pool-range pointer that failed the free fast path's checks.
BadPointer classify_pool_pointer(const void* pointer, BadPointerDetail* detail);

// Writes the line report_bad_pointer would write (without the newline); its length.
size_t format_bad_pointer(char* buffer, size_t capacity, const char* operation, const void* pointer, BadPointer kind,
                          const BadPointerDetail& detail);

}  // namespace memf
