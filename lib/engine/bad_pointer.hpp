// What a pointer is that free(), realloc() or malloc_usable_size() cannot accept, and the report
// of it, in the pool core's words (core/misuse.hpp): one line on stderr, then abort or carry on
// as MEMF_ON_ERROR says. The heap is left as it was.
#pragma once
#include <cstddef>

#include "misuse.hpp"

namespace memf {

// The classification of a pointer: the kind, and for pool pointers the block's size class and
// (kInterior) the block it points into.
struct BadPointer {
  Misuse kind;
  size_t class_size;        // 0 outside the pools
  const void* block_start;  // kInterior: the enclosing block
};

// A pointer inside the pools' range that failed the free fast path's checks: a double free, an
// interior pointer, or no live block there. A pointer outside the range that no table knows is
// kForeign.
BadPointer classify_bad_pointer(const void* pointer);

// The line the report would write (without the newline); its length.
size_t format_bad_pointer(char* buffer, size_t capacity, const char* operation, const void* pointer);

// operation: "free", "realloc", "malloc_usable_size", ...
void report_bad_pointer(const char* operation, const void* pointer);

}  // namespace memf
