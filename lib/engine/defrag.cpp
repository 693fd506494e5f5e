#include "defrag.hpp"

#include <cstring>

#include "central.hpp"
#include "pool_arena.hpp"

namespace memf {

bool engine_defrag_hint(const void* p) {
  if (!pool_block_live(p)) return false;
  const unsigned cls = g_pool.slab_classes[slab_index(p)];
  return central_slab_is_sparse(cls, slab_of(p));
}

void* engine_defrag_move(void* p) {
  if (!engine_defrag_hint(p)) return p;
  const unsigned cls = g_pool.slab_classes[slab_index(p)];
  SlabMeta* from = slab_of(p);
  FreeBlock* block = central_take_densest(cls, from);
  if (!block) return p;
  const size_t size = kSizeClasses[cls].size;
  memcpy(block, p, size);
  // The new block carries the old one's tag and records; the old one goes straight back to its
  // slab (not to a cache, which would hand it out again and keep the slab alive).
  slot_state(block) = slot_state(p);  // the copy put the program's second word over the mark
  if (SlotInfo* old_info = slot_info(p)) {
    *slot_info(block) = *old_info;
    old_info->requested &= ~kSlotInfoProfiled;  // the profile's record moved with the block
  }
  slot_state(p) = kSlotAllocated;
  FreeBlock* old_block = static_cast<FreeBlock*>(p);
  make_free(old_block, nullptr);
  central_return(cls, old_block, 1);
  return block;
}

}  // namespace memf
