// The large blocks freed last: so that a second free of one says "double free" with its size
// and allocation stack, not "not allocated by memf". Written on the large free path (one atomic
// increment and a few stores), read only when a free fails.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

struct FreedLarge {
  uintptr_t address;
  size_t requested;   // bytes the program had asked for
  uint32_t stack_id;  // allocation stack (stack depot), 0 = none
  bool mapping;       // a huge block (whole mapping) rather than mimalloc's
};

// The ring's size: a double free of a block freed more than this many large frees ago is no
// longer recognised (it is then reported as a pointer memf does not know).
constexpr size_t kFreedLargeRecords = 1024;

void remember_freed_large(const FreedLarge& block);

// The newest record of address; false when none. A record may be overwritten while it is read
// (no lock): a diagnostic then names another freed block's size, never a live block's. A record
// outlives the block's reuse: free() asks the live table first, so a block handed out again at
// that address is freed normally; only a pointer that is not live is looked up here.
bool find_freed_large(const void* address, FreedLarge* out);

}  // namespace memf
