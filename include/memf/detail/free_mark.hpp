// The free mark, shared by memf's allocator and the pools' inline paths in memory_pool.hpp.
//
// Every memf pool (the allocator's and the application pools) tells a free block from a live one
// by the block's second word: while the block is free it holds the mark, key ^ the block's
// address, where key is a secret of the pool (odd, so that no mark is 0); while the program has
// the block it holds whatever the program wrote there, and 0 when handed out. The mark depends on
// the address and the secret, so neither program data nor a copy of a free block matches it by
// accident (odds 2^-64). The fast paths therefore only read per-block metadata and write the
// block itself: threads passing blocks between them never write shared metadata lines.
#pragma once
#include <cstdint>

namespace memf::detail {

// A word of a block, read and written while the program may have stored any type there:
// may_alias keeps the compiler from reordering it across the program's own stores.
typedef uintptr_t __attribute__((may_alias)) SlotWord;

// Always inlined: they are the fast paths' own instructions (and a caller that reads other
// threads' blocks on purpose, a heap walk, keeps them out of ThreadSanitizer's sight).
#define MEMF_DETAIL_INLINE inline __attribute__((always_inline))
MEMF_DETAIL_INLINE uintptr_t free_mark(uintptr_t key, const void* block) { return key ^ uintptr_t(block); }
MEMF_DETAIL_INLINE bool has_free_mark(uintptr_t key, const void* block) {
  return static_cast<const SlotWord*>(block)[1] == free_mark(key, block);
}
MEMF_DETAIL_INLINE void set_free_mark(uintptr_t key, void* block) {
  static_cast<SlotWord*>(block)[1] = free_mark(key, block);
}
MEMF_DETAIL_INLINE void clear_free_mark(void* block) { static_cast<SlotWord*>(block)[1] = 0; }
#undef MEMF_DETAIL_INLINE

}  // namespace memf::detail
