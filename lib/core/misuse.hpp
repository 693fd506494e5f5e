// Misuse of a memf pool by the program (double free, a pointer into a block, a pointer no pool
// handed out, a size that does not match, a free block written over): one line on stderr, then
// abort or carry on as MEMF_ON_ERROR says. Every pool reports through here; the heap is left as
// it was either way, except that a free list found corrupted is dropped from its first bad block
// on (those blocks are never handed out again).
#pragma once
#include <cstddef>
#include <cstdint>

#include <fmt/format.h>

namespace memf {

enum class Misuse {
  kDoubleFree,    // the start of a block that is free already
  kInterior,      // inside a block, not at its start
  kNotLive,       // in the pool's memory, where no block is live
  kForeign,       // outside everything the pool handed out
  kSizeMismatch,  // freed with a size of another size class (VariablePool)
  kCorruptFreeList,  // a free block's link and mark no longer match: written after it was freed
};

struct MisuseReport {
  Misuse kind;
  const char* operation;        // "free", "memf::MemoryPool::deallocate", ...
  const void* pointer;
  const void* block_start;      // kInterior: the block p points into
  size_t size_given;            // kSizeMismatch: the size the program passed
  // How the block is described: "size class 48 B", "MemoryPool \"cache\", object size 48 B".
  const char* block;
  // The unit the pool hands out: "block" or "object".
  const char* unit;
  // Who did not hand p out (kForeign: "memf", "MemoryPool \"cache\"") or where no unit is live
  // (kNotLive: "memf's pools", "MemoryPool \"cache\" (never handed out, ...)").
  const char* owner;
  // The block's allocation stack (stack depot id) where one was recorded, else 0.
  uint32_t allocation_stack = 0;
};

// More lines after a report's own (the stack of the bad call, the block's allocation stack),
// written before MEMF_ON_ERROR acts. Installed by the layer that captures and symbolizes stacks
// when stacks are on; it may allocate (no allocator lock is held where reports are made).
using MisuseDetailHook = void (*)(const MisuseReport& report);
void set_misuse_detail_hook(MisuseDetailHook hook);

// A report's owner or block text, formatted into buffer (NUL-terminated, cut to fit); buffer.
template <size_t N, class... Args>
const char* misuse_text(char (&buffer)[N], fmt::format_string<Args...> format, Args&&... args) {
  *fmt::format_to_n(buffer, N - 1, format, static_cast<Args&&>(args)...).out = '\0';
  return buffer;
}

// The line (without newline) into buffer; its length (< capacity).
size_t format_misuse(char* buffer, size_t capacity, const MisuseReport& report);

// Writes the line with MEMF_ON_ERROR's outcome appended ("; aborting (MEMF_ON_ERROR=abort)" or
// "; ignored"), then aborts, or returns (the caller then leaves the heap as it was).
void report_misuse(const MisuseReport& report);

}  // namespace memf
