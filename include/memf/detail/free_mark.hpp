// The free mark, shared by memf's allocator and the pools' inline paths in memory_pool.hpp.
//
// Every memf pool (the allocator's and the application pools) keeps its free blocks' state in the
// blocks' first two words. While a block is free, the first holds its list link, encoded: the
// next free block's address ^ key, where key is a secret of the pool with its top bit set (so an
// encoded link is never an address a program or a conservative leak scan would follow); the
// second holds the free mark: (the block's address * key) ^ the first word. The product keeps the
// mark secret even where the link is known: a handed-out block keeps its encoded link, and a
// program that then stores the block's own address in the second word (a list head pointing at
// itself) must not make it look free, as it would with address ^ key ^ (next ^ key). While the program has
// the block the second word holds whatever the program wrote there, and 0 when handed out.
// The mark depends on the secret, the address and the link, so neither program data nor a copy
// of a free block matches it by accident (odds 2^-64), and a program that writes over a free
// block (a use after free, an overflow from its neighbour) breaks the pair: memf checks it before
// it follows a link, and never follows one it did not write. The fast paths therefore only read
// per-block metadata and write the block itself: threads passing blocks between them never write
// shared metadata lines.
#pragma once
#include <cstdint>

namespace memf::detail {

// A word of a block, read and written while the program may have stored any type there:
// may_alias keeps the compiler from reordering it across the program's own stores.
typedef uintptr_t __attribute__((may_alias)) SlotWord;

// Always inlined: they are the fast paths' own instructions (and a caller that reads other
// threads' blocks on purpose, a heap walk, keeps them out of ThreadSanitizer's sight).
#define MEMF_DETAIL_INLINE inline __attribute__((always_inline))
// The mark block's second word holds while it is free with link_word in its first.
MEMF_DETAIL_INLINE uintptr_t free_mark(uintptr_t key, const void* block, uintptr_t link_word) {
  return (uintptr_t(block) * key) ^ link_word;
}
MEMF_DETAIL_INLINE bool has_free_mark(uintptr_t key, const void* block) {
  const SlotWord* words = static_cast<const SlotWord*>(block);
  return words[1] == free_mark(key, block, words[0]);
}
// Makes block free, its list going on at next (nullptr: the list ends there).
MEMF_DETAIL_INLINE void set_free(uintptr_t key, void* block, const void* next) {
  SlotWord* words = static_cast<SlotWord*>(block);
  const uintptr_t link_word = uintptr_t(next) ^ key;
  words[0] = link_word;
  words[1] = free_mark(key, block, link_word);
}
// A block on no list (the pools' array caches hold it): free, with an empty link.
MEMF_DETAIL_INLINE void set_free_mark(uintptr_t key, void* block) { set_free(key, block, nullptr); }
// The next block on block's list, as set_free wrote it; meaningful only while has_free_mark.
MEMF_DETAIL_INLINE void* free_link(uintptr_t key, const void* block) {
  return reinterpret_cast<void*>(static_cast<const SlotWord*>(block)[0] ^ key);
}
// Handed out: the first word keeps the encoded link, which reads as no address.
MEMF_DETAIL_INLINE void clear_free_mark(void* block) { static_cast<SlotWord*>(block)[1] = 0; }
#undef MEMF_DETAIL_INLINE

}  // namespace memf::detail
