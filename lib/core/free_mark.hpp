// Free blocks of every memf pool: the link in the first word, the free mark in the second
// (include/memf/detail/free_mark.hpp says why the mark is there). Blocks are at least 16 bytes.
#pragma once
#include <cstdint>

#include <memf/detail/free_mark.hpp>

#include "compiler.hpp"

namespace memf {

struct FreeBlock {
  FreeBlock* next;
  uintptr_t free_mark;
};

// A pool's secret: the kernel's random bytes for this process (AT_RANDOM, readable from the
// first malloc, with no allocation) folded with an address of the pool's (its range's base, so
// that pools differ); odd, so that no mark is 0.
uintptr_t free_key_for(uintptr_t pool_base);

MEMF_ALWAYS_INLINE bool block_is_free(uintptr_t key, const void* block) { return detail::has_free_mark(key, block); }
MEMF_ALWAYS_INLINE void mark_block_free(uintptr_t key, void* block) { detail::set_free_mark(key, block); }
// A block handed out holds neither its free mark nor its free-list link: a stale link in a block
// the program never writes would read, to a conservative leak scan, as a pointer to the block that
// followed it on the list (every block of a leaked loop but the last would look indirectly lost).
// Two stores, to a line the hand-out touches anyway.
MEMF_ALWAYS_INLINE void mark_block_live(void* block) {
  static_cast<detail::SlotWord*>(block)[0] = 0;
  detail::clear_free_mark(block);
}

}  // namespace memf
