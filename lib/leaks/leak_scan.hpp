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

// The category the leak report's own allocations (symbolizer, formatting) are made under: blocks
// of it are memf's, neither roots nor leaks, and scan_process leaves them out.
constexpr const char* kReportCategory = "memf.report";

// Walks the heap, collects the roots, classifies. Never allocates through malloc. false (with
// nothing to release) when memory for the block array could not be mapped.
bool scan_process(LeakScan* scan);
void release_scan(LeakScan* scan);

}  // namespace memf
