#include "central.hpp"

namespace memf {

constinit CentralClass g_central[kNumClasses];

namespace {

void partial_push(CentralClass& central, SlabMeta* slab) {
  slab->list = kSlabPartial;
  slab->prev = nullptr;
  slab->next = central.partial;
  if (central.partial) central.partial->prev = slab;
  central.partial = slab;
}

void partial_unlink(CentralClass& central, SlabMeta* slab) {
  if (slab->prev) slab->prev->next = slab->next;
  else central.partial = slab->next;
  if (slab->next) slab->next->prev = slab->prev;
  slab->prev = slab->next = nullptr;
  slab->list = kSlabInUse;
}

}  // namespace

FreeBlock* central_pop_batch(unsigned cls) {
  CentralClass& central = g_central[cls];
  if (central.transfer_batches.load(std::memory_order_relaxed) == 0) return nullptr;
  LockGuard guard(central.transfer_lock);
  const uint32_t batches = central.transfer_batches.load(std::memory_order_relaxed);
  if (batches == 0) return nullptr;
  central.transfer_batches.store(batches - 1, std::memory_order_relaxed);
  return central.transfer[batches - 1];
}

bool central_push_batch(unsigned cls, FreeBlock* first) {
  CentralClass& central = g_central[cls];
  if (central.transfer_batches.load(std::memory_order_relaxed) >= kMaxTransferBatches) return false;
  LockGuard guard(central.transfer_lock);
  const uint32_t batches = central.transfer_batches.load(std::memory_order_relaxed);
  if (batches >= kMaxTransferBatches) return false;
  central.transfer[batches] = first;
  central.transfer_batches.store(batches + 1, std::memory_order_relaxed);
  return true;
}

unsigned central_take(unsigned cls, unsigned wanted, FreeBlock** chain) {
  const SizeClassInfo& info = kSizeClasses[cls];
  CentralClass& central = g_central[cls];
  FreeBlock* head = nullptr;
  FreeBlock** tail = &head;
  unsigned got = 0;
  LockGuard guard(central.lock);
  while (got < wanted) {
    SlabMeta* slab = central.partial;
    if (!slab) {
      slab = slab_acquire(cls);
      if (!slab) break;
      partial_push(central, slab);
    }
    unsigned before = got;
    while (got < wanted && slab->free_list) {
      FreeBlock* block = slab->free_list;
      slab->free_list = block->next;
      *tail = block;
      tail = &block->next;
      ++got;
    }
    if (got < wanted && slab->carved < slab->capacity) {
      char* cursor = slab_data(slab) + size_t(slab->carved) * info.size;
      unsigned carve = slab->capacity - slab->carved;
      if (carve > wanted - got) carve = wanted - got;
      // A carved block becomes a block start (its state byte) and free (its mark).
      for (unsigned i = 0; i < carve; ++i, cursor += info.size) {
        FreeBlock* block = reinterpret_cast<FreeBlock*>(cursor);
        slot_state(block) = kSlotAllocated;
        mark_block_free(block);
        *tail = block;
        tail = &block->next;
      }
      slab->carved += carve;
      got += carve;
    }
    slab->used += got - before;
    if (!slab->free_list && slab->carved == slab->capacity) partial_unlink(central, slab);
  }
  *tail = nullptr;
  *chain = head;
  return got;
}

void central_return(unsigned cls, FreeBlock* chain, unsigned count) {
  CentralClass& central = g_central[cls];
  LockGuard guard(central.lock);
  for (unsigned i = 0; i < count && chain; ++i) {
    FreeBlock* block = chain;
    chain = chain->next;
    SlabMeta* slab = slab_of(block);
    block->next = slab->free_list;
    slab->free_list = block;
    if (slab->list == kSlabInUse) partial_push(central, slab);
    if (--slab->used == 0) {
      partial_unlink(central, slab);
      slab_release(slab);
    }
  }
}

FreeBlock* central_take_densest(unsigned cls, const SlabMeta* avoid) {
  CentralClass& central = g_central[cls];
  LockGuard guard(central.lock);
  SlabMeta* best = nullptr;
  for (SlabMeta* slab = central.partial; slab; slab = slab->next) {
    if (slab == avoid || !slab->free_list) continue;
    if (!best || slab->used > best->used) best = slab;
  }
  if (!best || best->used <= avoid->used) return nullptr;
  FreeBlock* block = best->free_list;
  best->free_list = block->next;
  ++best->used;
  if (!best->free_list && best->carved == best->capacity) partial_unlink(central, best);
  block->next = nullptr;
  return block;
}

bool central_slab_is_sparse(unsigned cls, const SlabMeta* slab) {
  CentralClass& central = g_central[cls];
  LockGuard guard(central.lock);
  if (slab->list != kSlabPartial) return false;  // full slabs are not worth emptying
  uint64_t used = 0, slabs = 0;
  for (SlabMeta* partial = central.partial; partial; partial = partial->next) {
    used += partial->used;
    ++slabs;
  }
  // Sparser than the average partial slab, and some other slab can take the block.
  return slabs > 1 && uint64_t(slab->used) * slabs < used;
}

void central_lock_all() {
  for (CentralClass& central : g_central) {
    central.transfer_lock.lock();
    central.lock.lock();
  }
}

void central_unlock_all() {
  for (CentralClass& central : g_central) {
    central.lock.unlock();
    central.transfer_lock.unlock();
  }
}

void central_reset_locks_after_fork() {
  for (CentralClass& central : g_central) {
    central.lock.reset_after_fork();
    central.transfer_lock.reset_after_fork();
  }
}

size_t central_flush_transfers() {
  size_t blocks = 0;
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    while (FreeBlock* batch = central_pop_batch(cls)) {
      central_return(cls, batch, kSizeClasses[cls].batch);
      blocks += kSizeClasses[cls].batch;
    }
  }
  return blocks;
}

CentralClassStats central_stats(unsigned cls) {
  CentralClass& central = g_central[cls];
  CentralClassStats stats{};
  stats.transfer_blocks = size_t(central.transfer_batches.load(std::memory_order_relaxed)) * kSizeClasses[cls].batch;
  LockGuard guard(central.lock);
  for (SlabMeta* slab = central.partial; slab; slab = slab->next) ++stats.partial_slabs;
  return stats;
}

}  // namespace memf
