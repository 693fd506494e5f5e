#include "central.hpp"

namespace memf {

constinit CentralClass g_central[kNumClasses];

namespace {

MEMF_ALWAYS_INLINE uint32_t encode(const FreeBlock* block) {
  return block ? uint32_t((pool_offset(block) >> 4) + 1) : 0;
}
MEMF_ALWAYS_INLINE FreeBlock* decode(uint64_t word) {
  uint32_t low = uint32_t(word);
  return low ? reinterpret_cast<FreeBlock*>(g_pool.base + (uint64_t(low - 1) << 4)) : nullptr;
}

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

// The batch may be popped and reused by another thread between loading the top and this read;
// the pool range stays mapped, so the read is harmless and the version makes the exchange fail.
// Kept out of ThreadSanitizer's sight alone, so the exchanges around it still order the rest.
__attribute__((no_sanitize("thread"), noinline)) FreeBlock* read_next_batch(FreeBlock* first) {
  return __atomic_load_n(&first->next_batch, __ATOMIC_RELAXED);
}

}  // namespace

FreeBlock* central_pop_batch(unsigned cls) {
  CentralClass& central = g_central[cls];
  uint64_t top = central.transfer_top.load(std::memory_order_acquire);
  for (;;) {
    FreeBlock* first = decode(top);
    if (!first) return nullptr;
    FreeBlock* next = read_next_batch(first);
    uint64_t replacement = (((top >> 32) + 1) << 32) | encode(next);
    if (central.transfer_top.compare_exchange_weak(top, replacement, std::memory_order_acquire,
                                                   std::memory_order_acquire)) {
      central.transfer_batches.fetch_sub(1, std::memory_order_relaxed);
      return first;
    }
  }
}

bool central_push_batch(unsigned cls, FreeBlock* first) {
  CentralClass& central = g_central[cls];
  if (central.transfer_batches.load(std::memory_order_relaxed) >= kMaxTransferBatches) return false;
  central.transfer_batches.fetch_add(1, std::memory_order_relaxed);
  uint64_t top = central.transfer_top.load(std::memory_order_relaxed);
  for (;;) {
    first->next_batch = decode(top);  // the batch is still private until the exchange publishes it
    uint64_t replacement = (((top >> 32) + 1) << 32) | encode(first);
    if (central.transfer_top.compare_exchange_weak(top, replacement, std::memory_order_release,
                                                   std::memory_order_relaxed))
      return true;
  }
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
      for (unsigned i = 0; i < carve; ++i, cursor += info.size) {
        FreeBlock* block = reinterpret_cast<FreeBlock*>(cursor);
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
