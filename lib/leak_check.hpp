// The leak checker: a conservative scan of the process's roots that classifies every live block
// the way Valgrind's memcheck and LeakSanitizer do (see docs/leak-report.md).
//
// The scan and the classification never allocate through malloc (the heap must not change while
// it is examined): the block array, the marks and the work stacks live in memory mapped here.
// Reporting (symbolizing, grouping, formatting: leak_report.hpp) comes afterwards and may.
#pragma once
#include <cstddef>
#include <cstdint>

#include "heap_walk.hpp"

namespace memf {

// Ordered from worst to best: a block's kind only ever improves during the marking.
enum class LeakKind : uint8_t {
  kDefinite = 0,   // unreachable, and no other unreachable block points into it
  kIndirect = 1,   // unreachable, but pointed into by another unreachable block
  kPossible = 2,   // reachable from the roots only through some interior pointer
  kReachable = 3,  // a chain of start pointers leads to it from a root
};
constexpr unsigned kLeakKinds = 4;
// "definite", "indirect", "possible", "reachable" (the JSON's words).
const char* leak_kind_name(LeakKind kind);

// One live block as the scan sees it. Arrays of them are sorted by address, blocks disjoint.
struct ScanBlock {
  uintptr_t address;
  uint64_t size;      // bytes scanned and matched: [address, address + size); a pointer equal to
                      // address matches even when size is 0
  uint32_t stack_id;  // allocation stack (stack depot id), 0 = unknown
  uint8_t category;   // tracker category tag
  LeakKind kind;      // the result of classify_blocks
  uint8_t mark;       // scan-internal
  uint8_t flags;      // kScanBlockLoaderOwned, kScanBlockLarge
};
// The block was allocated by the dynamic linker (dtv, dynamic TLS): reachable by fiat, as in
// LeakSanitizer, because the pointer to it may sit in the descriptor of an exited thread that
// glibc keeps for reuse, which is no root.
constexpr uint8_t kScanBlockLoaderOwned = 1;
// A large block (outside the pools): the scan indexes the dense pool blocks apart from these.
constexpr uint8_t kScanBlockLarge = 2;

struct ScanStats {
  uint64_t root_ranges;  // root ranges scanned (after removing live blocks from them)
  uint64_t root_bytes;   // bytes of roots scanned
  uint64_t block_bytes;  // bytes of block contents scanned (reachable, possible and leaked)
  uint64_t faults;       // reads that faulted (memory unmapped meanwhile): skipped to the next page
};

// Classifies blocks[0..count) (sorted by address, disjoint) given the root ranges, writing each
// block's kind. Roots are scanned minus any part that lies inside a live block (heap memory
// is only ever scanned as part of a block reached from a root). Aligned 8-byte words only.
// A fault while reading a root or a block skips to the next page instead of crashing.
// Scratch memory is mapped and unmapped here; false when it could not be mapped (kinds unset).
bool classify_blocks(ScanBlock* blocks, size_t count, const AddressRange* roots, size_t root_count,
                     ScanStats* stats);

// The blocks of a finished scan of this process, in mapped memory.
struct LeakScan {
  ScanBlock* blocks = nullptr;  // sorted by address
  size_t count = 0;
  size_t mapped_bytes = 0;
  ScanStats stats{};
  uint64_t elapsed_ns = 0;
};

// Gathers this process's roots into out[0..capacity) and returns how many there are (may exceed
// capacity; then only the first capacity were stored): the writable PT_LOAD segments of every
// loaded module but memf's and mimalloc's own shared objects, the [heap], every live thread's
// stack mapping (the current thread's from stack_pointer up), the mapping holding the calling
// thread's static TLS; minus allocator_metadata_ranges(). Sorted, merged, never allocates.
size_t collect_roots(AddressRange* out, size_t capacity, uintptr_t stack_pointer);

// The category the leak report's own allocations (symbolizer, formatting) are made under: blocks
// of it are memf's, neither roots nor leaks, and scan_process leaves them out.
constexpr const char* kReportCategory = "memf.report";

// Walks the heap, collects the roots, classifies. Never allocates through malloc. false (with
// nothing to release) when memory for the block array could not be mapped.
bool scan_process(LeakScan* scan);
void release_scan(LeakScan* scan);

// At exit (the engine's atexit handler, registered early so it runs after the program's own
// handlers and static destructors): scan, report on stderr and to MEMF_REPORT, and when
// unsuppressed definite or indirect leaks remain and MEMF_LEAK_EXITCODE is not 0, flush stdio
// and end the process with _exit(MEMF_LEAK_EXITCODE). Runs once; later calls do nothing.
void run_exit_leak_check();

// memf_report_write: scans now and writes the JSON report to path (%p = pid). 0 on success,
// -1 with errno set on failure.
int write_leak_report(const char* path);

}  // namespace memf
