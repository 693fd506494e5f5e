// The leak checker's scanner: a conservative scan of given roots that classifies every live block
// the way Valgrind's memcheck and LeakSanitizer do (see docs/leak-report.md). Never allocates
// through malloc (the heap must not change while it is examined): the marks, the work stack and
// the graph of unreachable blocks live in memory mapped here.
#pragma once
#include <cstddef>
#include <cstdint>

#include "address_range.hpp"

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
// memf's own block (kCategoryInternal: its API's registries, an earlier report's symbolizer):
// in use by fiat, so what it holds for the program is reachable, and never reported.
constexpr uint8_t kScanBlockInternal = 4;

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

}  // namespace memf
