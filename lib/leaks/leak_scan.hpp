// A leak scan of this process: the heap walked into mapped memory, sorted, the dynamic linker's
// blocks marked, the roots collected, every block classified.
#pragma once
#include <cstddef>
#include <cstdint>

#include "scanner.hpp"

namespace memf {

// The blocks of a finished scan of this process, in mapped memory.
struct LeakScan {
  ScanBlock* blocks = nullptr;  // sorted by address
  size_t count = 0;
  size_t mapped_bytes = 0;
  ScanStats stats{};
  uint64_t elapsed_ns = 0;
};

// Walks the heap, collects the roots, classifies. Never allocates through malloc. false (with
// nothing to release) when memory for the block array could not be mapped. live_stack_bottom:
// where the calling thread's live frames begin (live_stack_bottom_at_exit), 0 for "from here up":
// below it, this thread's stack and the registers it holds now are dead.
bool scan_process(LeakScan* scan, uintptr_t live_stack_bottom = 0);
void release_scan(LeakScan* scan);

}  // namespace memf
