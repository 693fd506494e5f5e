// Memory holding the program's data that is none of what the leak scan finds by itself (heap
// blocks, modules' data, stacks, TLS): the application pools' ranges. Their owners register a
// lister; the scan reads what the listers give as roots, so a block referenced only from an
// object in a MemoryPool is not lost.
#pragma once
#include <cstddef>

#include "address_range.hpp"

namespace memf {

// Writes up to capacity ranges to out; returns how many it has (possibly more than capacity).
// Runs during a leak scan: it must not allocate.
using RootLister = size_t (*)(AddressRange* out, size_t capacity);

// At most kMaxRootListers; false when the table is full. Listers stay registered for good.
constexpr size_t kMaxRootListers = 8;
bool register_root_lister(RootLister lister);

// Every registered lister's ranges, in turn; returns how many there are in all.
size_t list_registered_roots(AddressRange* out, size_t capacity);

}  // namespace memf
