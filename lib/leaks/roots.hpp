// The roots of a leak scan of this process: the memory a live program reaches its heap from.
// Never allocates through malloc.
#pragma once
#include <cstddef>
#include <cstdint>

#include "address_range.hpp"

namespace memf {

// Room for the roots of any process (ranges after merging).
constexpr size_t kMaxRootRanges = 1 << 16;

// Gathers this process's roots into out[0..capacity) and returns how many there are (may exceed
// capacity; then only the first capacity were stored): the writable PT_LOAD segments of every
// loaded module but memf's and mimalloc's own shared objects, the [heap], every live thread's
// stack mapping (the current thread's from stack_pointer up), the mapping holding the calling
// thread's static TLS; minus allocator_metadata_ranges(). Sorted, merged, never allocates.
size_t collect_roots(AddressRange* out, size_t capacity, uintptr_t stack_pointer);

// The same, with extra ranges left out (the scan's own memory).
size_t collect_roots_excluding(AddressRange* out, size_t capacity, uintptr_t stack_pointer,
                               const AddressRange* extra_excluded, size_t extra_count);

}  // namespace memf
