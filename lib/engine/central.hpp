// The centre of each size class: where thread caches refill from and drain to.
//
// Sharded: each thread belongs to one of kCentralShards shards (the one with the fewest threads
// when it sets its cache up), and each shard has its own centre of every class, with slabs of its own. A
// thread's refills come from its shard's shelf and slabs (or, when it has none, from a shard no
// thread is in: its batches, and its partial slabs, adopted), so threads of different shards
// never get blocks carved side by side: blocks smaller than a cache line would otherwise share
// lines that two threads write at once, and a program whose threads each churn their own blocks
// ran no faster on two cores than on one (mimalloc-bench's glibc-thread; docs/design.md). A block
// always goes back to the shard of its slab (a drained batch to the shelf of its first block's
// shard, the rest to their slabs), so blocks freed by another thread return home.
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
#include "compiler.hpp"
#include "pool_arena.hpp"
#include "size_classes.hpp"
#include "slab_list.hpp"
#include "spin_lock.hpp"

namespace memf {

constexpr unsigned kCentralShards = 4;

struct alignas(64) CentralClass {
  SpinLock transfer_lock;  // a leaf: nothing else is locked while it is held
  // Under transfer_lock; its count is read without it as a hint (empty or full) and for statistics.
  BatchShelf transfer{1, kShelfBatches};
  void* transfer_storage[kShelfBatches] = {};  // the shelf's words: each batch's first block
  alignas(64) SpinLock lock;
  SlabList<SlabMeta> partial{kSlabPartial};  // slabs with free or uncarved slots
};

extern CentralClass g_central[kCentralShards][kNumClasses];

// The calling thread's shard: 0 until central_join_shard gives it one.
extern __thread uint8_t t_central_shard MEMF_TLS MEMF_HIDDEN;
// Gives the calling thread its shard, the one with the fewest threads; once, when its cache is
// set up. central_leave_shard: the thread is exiting (its later blocks still come from its shard).
void central_join_shard();
void central_leave_shard();
// In a fork child: only the calling thread is counted in its shard.
void central_shards_after_fork_child();

// Pops one full batch (kSizeClasses[cls].batch blocks linked by next) from the calling thread's
// shard; nullptr if none.
FreeBlock* central_pop_batch(unsigned cls);
// Pushes a full batch on the shelf of its first block's shard; false (nothing done) if that
// shelf is at its bound.
bool central_push_batch(unsigned cls, FreeBlock* first);

// Takes up to `wanted` blocks from the class's slabs of the calling thread's shard (carving or
// acquiring slabs as needed),
// linked by next; returns how many (0 when the range is exhausted).
unsigned central_take(unsigned cls, unsigned wanted, FreeBlock** chain);
// Takes the whole free list of the class's first partial slab in the calling thread's shard,
// linked by next, when it holds
// between `least` (>= 1) and `most` blocks, without reading any of them: the caller's bin checks
// each block's link as it hands the block out. Returns how many (0: nothing taken).
unsigned central_take_slab_list(unsigned cls, unsigned least, unsigned most, FreeBlock** chain);
// Returns `count` blocks linked by next to their slabs (each under its slab's shard's lock);
// slabs left with no block out are released.
// checked: the caller has just checked every link of the chain, with no program code run since,
// so the links are followed without checking them again.
void central_return(unsigned cls, FreeBlock* chain, unsigned count, bool checked = false);

// Defragmentation: one block of cls from the fullest partial slab other than `avoid` (which may be
// null), in avoid's shard (else the caller's); nullptr when no such slab has a free block, or it
// is not fuller than `avoid` (moving would not help).
FreeBlock* central_take_densest(unsigned cls, const SlabMeta* avoid);
// Whether the slab holding p is used less than its shard's partial slabs of the class on average (so that
// moving p out of it helps the slab empty). A statistic: read under the class lock.
bool central_slab_is_sparse(unsigned cls, const SlabMeta* slab);

// Moves every transfer batch of every class and shard back to the slabs (so empty slabs can be
// released).
size_t central_flush_transfers();

// fork(): every shard's and class's transfer and slab locks, taken before the arena lock (lock
// order: class -> arena) and released, or reset in the child, after it.
void central_lock_all();
void central_unlock_all();
void central_reset_locks_after_fork();

// Summed over the shards.
struct CentralClassStats {
  size_t transfer_blocks;
  size_t partial_slabs;
};
CentralClassStats central_stats(unsigned cls);

}  // namespace memf
