// The centre of each size class: where thread caches refill from and drain to.
//
// Two levels. A bounded stack of full batches under its own small lock (a drained batch is pushed
// whole and popped whole by the next refill, so producer->consumer traffic never touches slab
// metadata), and below it the class's slabs, reached under the class's lock, where blocks are
// carved and returned and empty slabs are detected. No lock is shared between size classes.
// The stack is the core's batch shelf (core/batch_shelf.hpp) one word wide: a batch's blocks are
// linked through their first words (the second holds each block's free mark), and the shelf
// keeps each batch's first block.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "batch_shelf.hpp"
#include "pool_arena.hpp"
#include "size_classes.hpp"
#include "slab_list.hpp"
#include "spin_lock.hpp"

namespace memf {

struct alignas(64) CentralClass {
  SpinLock transfer_lock;  // a leaf: nothing else is locked while it is held
  // Under transfer_lock; its count is read without it as a hint (empty or full) and for statistics.
  BatchShelf transfer{1, kShelfBatches};
  void* transfer_storage[kShelfBatches] = {};  // the shelf's words: each batch's first block
  alignas(64) SpinLock lock;
  SlabList<SlabMeta> partial{kSlabPartial};  // slabs with free or uncarved slots
};

extern CentralClass g_central[kNumClasses];

// Pops one full batch (kSizeClasses[cls].batch blocks linked by next); nullptr if none.
FreeBlock* central_pop_batch(unsigned cls);
// Pushes a full batch; false (nothing done) if the stack is at its bound.
bool central_push_batch(unsigned cls, FreeBlock* first);

// Takes up to `wanted` blocks from the class's slabs (carving or acquiring slabs as needed),
// linked by next; returns how many (0 when the range is exhausted).
unsigned central_take(unsigned cls, unsigned wanted, FreeBlock** chain);
// Takes the whole free list of the class's first partial slab, linked by next, when it holds
// between `least` (>= 1) and `most` blocks, without reading any of them: the caller's bin checks
// each block's link as it hands the block out. Returns how many (0: nothing taken).
unsigned central_take_slab_list(unsigned cls, unsigned least, unsigned most, FreeBlock** chain);
// Returns `count` blocks linked by next to their slabs; slabs left with no block out are released.
// checked: the caller has just checked every link of the chain, with no program code run since,
// so the links are followed without checking them again.
void central_return(unsigned cls, FreeBlock* chain, unsigned count, bool checked = false);

// Defragmentation: one block of cls from the fullest partial slab other than `avoid` (which may be
// null); nullptr when no such slab has a free block, or it is not fuller than `avoid` (moving
// would not help).
FreeBlock* central_take_densest(unsigned cls, const SlabMeta* avoid);
// Whether the slab holding p is used less than the class's partial slabs on average (so that
// moving p out of it helps the slab empty). A statistic: read under the class lock.
bool central_slab_is_sparse(unsigned cls, const SlabMeta* slab);

// Moves every transfer batch of every class back to the slabs (so empty slabs can be released).
size_t central_flush_transfers();

// fork(): every class's transfer and slab locks, taken before the arena lock (lock order: class
// -> arena) and released, or reset in the child, after it.
void central_lock_all();
void central_unlock_all();
void central_reset_locks_after_fork();

struct CentralClassStats {
  size_t transfer_blocks;
  size_t partial_slabs;
};
CentralClassStats central_stats(unsigned cls);

}  // namespace memf
