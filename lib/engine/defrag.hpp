// Defragmentation (the technique Redis uses with jemalloc's hint): a live pool block whose slab
// is sparser than its class's average is worth moving; moving it takes a block of the same class
// from the fullest other slab, copies the contents, tag and records, and frees the old block
// straight to its slab, so sparse slabs empty and their pages can be returned.
#pragma once

namespace memf {

bool engine_defrag_hint(const void* p);
// Returns the block's new address, or p when it is not worth moving (or cannot be moved).
void* engine_defrag_move(void* p);

}  // namespace memf
