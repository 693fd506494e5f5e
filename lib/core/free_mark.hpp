// Free blocks of every memf pool: the encoded link in the first word, the free mark in the second
// (include/memf/detail/free_mark.hpp says what both hold and why). Blocks are at least 16 bytes.
#pragma once
#include <cstdint>

#include <memf/detail/free_mark.hpp>

#include "compiler.hpp"

namespace memf {

// Never read or written as fields: through the functions below, which keep the two words a pair.
struct FreeBlock {
  uintptr_t link;       // the next free block's address ^ the pool's key
  uintptr_t free_mark;  // (this block's address * key) ^ link
};

// A pool's secret: the kernel's random bytes for this process (AT_RANDOM, readable from the
// first malloc, with no allocation) folded with an address of the pool's (its range's base, so
// that pools differ). Odd, so that no mark of an empty list is 0; top bit set, so that an encoded
// link is never a user-space address.
uintptr_t free_key_for(uintptr_t pool_base);

MEMF_ALWAYS_INLINE bool block_is_free(uintptr_t key, const void* block) { return detail::has_free_mark(key, block); }
// block becomes free, its list going on at next (nullptr: the end).
MEMF_ALWAYS_INLINE void make_free(uintptr_t key, FreeBlock* block, const FreeBlock* next) {
  detail::set_free(key, block, next);
}
// Free on no list (an array cache holds it).
MEMF_ALWAYS_INLINE void mark_block_free(uintptr_t key, void* block) { detail::set_free_mark(key, block); }
// The next block on block's list; meaningful only while block_is_free(key, block).
MEMF_ALWAYS_INLINE FreeBlock* link_of(uintptr_t key, const FreeBlock* block) {
  return static_cast<FreeBlock*>(detail::free_link(key, block));
}
// Follows block's link after checking the pair: false when the program wrote over the block
// after freeing it (or ran over into it), in which case *next is left alone.
MEMF_ALWAYS_INLINE bool follow_link(uintptr_t key, const FreeBlock* block, FreeBlock** next) {
  if (MEMF_UNLIKELY(!block_is_free(key, block))) return false;
  *next = link_of(key, block);
  return true;
}
// A block handed out loses its free mark. Its first word keeps the encoded link, which is no
// user-space address: a conservative leak scan of a block the program never writes finds no
// pointer in it (a plain stale link would read as one to the block that followed it on the list).
MEMF_ALWAYS_INLINE void mark_block_live(void* block) { detail::clear_free_mark(block); }

}  // namespace memf
