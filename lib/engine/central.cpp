#include "central.hpp"

#include "corrupt_list.hpp"
#include "os.hpp"

namespace memf {

constinit CentralClass g_central[kCentralShards][kNumClasses];
__thread uint8_t t_central_shard MEMF_TLS = 0;

namespace {
// Threads in each shard now; a new thread joins the one with fewest (the first on a tie), so a
// thread that replaces one that exited takes over its shard, and with it the blocks it left.
constinit std::atomic<uint32_t> g_shard_threads[kCentralShards] = {};
// The shard whose count includes the calling thread, or -1.
__thread int8_t t_counted_shard MEMF_TLS = -1;

// A slab's shard: written under the class lock of the shard it leaves (adopt_orphan_slab), read
// without a lock by a caller holding blocks of the slab, which then checks it again under that
// shard's lock.
uint8_t slab_shard(const SlabMeta* slab) { return __atomic_load_n(&slab->shard, __ATOMIC_RELAXED); }

// The centre of cls in the calling thread's shard, and in the shard of slab.
CentralClass& my_central(unsigned cls) { return g_central[t_central_shard][cls]; }
CentralClass& slab_central(const SlabMeta* slab, unsigned cls) { return g_central[slab_shard(slab)][cls]; }
}  // namespace

void central_join_shard() {
  if (t_counted_shard >= 0) return;
  unsigned fewest = 0;
  for (unsigned shard = 1; shard < kCentralShards; ++shard)
    if (g_shard_threads[shard].load(std::memory_order_relaxed) < g_shard_threads[fewest].load(std::memory_order_relaxed))
      fewest = shard;
  g_shard_threads[fewest].fetch_add(1, std::memory_order_relaxed);
  t_central_shard = uint8_t(fewest);
  t_counted_shard = int8_t(fewest);
}

void central_leave_shard() {
  if (t_counted_shard < 0) return;
  g_shard_threads[t_counted_shard].fetch_sub(1, std::memory_order_relaxed);
  t_counted_shard = -1;
}

void central_shards_after_fork_child() {
  for (std::atomic<uint32_t>& threads : g_shard_threads) threads.store(0, std::memory_order_relaxed);
  if (t_counted_shard >= 0) g_shard_threads[t_counted_shard].store(1, std::memory_order_relaxed);
}

namespace {
FreeBlock* pop_batch_of(CentralClass& central) {
  if (central.transfer.empty()) return nullptr;
  LockGuard guard(central.transfer_lock);
  void* first = nullptr;
  central.transfer.pop(central.transfer_storage, &first);
  return static_cast<FreeBlock*>(first);
}

// A shard with no thread keeps what its threads left: the batches on its shelves and its
// partial slabs. A thread whose own shard has none takes them before anything new (a program
// whose threads hand their blocks to a successor and exit, as larson's do, otherwise carves new
// slabs while the blocks it frees go back to a shard nobody allocates from).
bool orphaned(unsigned shard) {
  return shard != t_central_shard && g_shard_threads[shard].load(std::memory_order_relaxed) == 0;
}

// Caller holds mine.lock, mine being the calling thread's centre of cls, whose partial list is
// empty: moves the first partial slab of an orphaned shard to it; nullptr when there is none.
// try_lock: two class locks are never waited for at once.
SlabMeta* adopt_orphan_slab(unsigned cls, CentralClass& mine) {
  for (unsigned shard = 0; shard < kCentralShards; ++shard) {
    if (!orphaned(shard)) continue;
    CentralClass& orphan = g_central[shard][cls];
    if (!orphan.lock.try_lock()) continue;
    SlabMeta* slab = nullptr;
    if (!orphan.partial.empty()) {
      slab = &g_pool.slabs[orphan.partial.head()];
      orphan.partial.remove(g_pool.slabs, slab_number(slab), kSlabFull);
      __atomic_store_n(&slab->shard, t_central_shard, __ATOMIC_RELAXED);
    }
    orphan.lock.unlock();
    if (slab) {
      mine.partial.push_front(g_pool.slabs, slab_number(slab));
      return slab;
    }
  }
  return nullptr;
}
}  // namespace

FreeBlock* central_pop_batch(unsigned cls) {
  if (FreeBlock* batch = pop_batch_of(my_central(cls))) return batch;
  for (unsigned shard = 0; shard < kCentralShards; ++shard)
    if (orphaned(shard))
      if (FreeBlock* batch = pop_batch_of(g_central[shard][cls])) return batch;
  return nullptr;
}

bool central_push_batch(unsigned cls, FreeBlock* first) {
  CentralClass& central = slab_central(slab_of(first), cls);
  if (central.transfer.full()) return false;
  LockGuard guard(central.transfer_lock);
  void* batch = first;
  return central.transfer.push(central.transfer_storage, &batch);
}

namespace {

// A chain under construction: blocks appended at its end, each linked when the next one comes.
struct ChainBuilder {
  FreeBlock* head = nullptr;
  FreeBlock* last = nullptr;
  void append(FreeBlock* block) {
    if (last) make_free(last, block);
    else head = block;
    last = block;
  }
  FreeBlock* finish() {
    if (last) make_free(last, nullptr);
    return head;
  }
};

// Carving writes every block's free mark, so a fresh or purged slab's pages are faulted in one
// after another as its blocks go out. Before a carve reaches pages not yet resident, they are
// populated with one system call, at least kCarveAheadPages at a time (the rest of the slab at
// most): on these machines a page fault costs more than its share of the call. `fragmentation`
// took 56,841 page faults -> 20,331 and 0.179 -> 0.166 s (design.md). The pages ahead of the
// cursor that are populated early are at most 3, so a small program's RSS barely moves.
constexpr unsigned kCarveAheadPages = 4;
constexpr unsigned kSlabPages = unsigned(kSlabSize / kPageSize);
void fault_in_ahead(SlabMeta& slab, size_t carved_end) {
  const unsigned end_page = unsigned(round_up(carved_end, kPageSize) / kPageSize);
  if (end_page <= slab.pages_ready) return;
  unsigned upto = slab.pages_ready + kCarveAheadPages;
  if (upto < end_page) upto = end_page;
  if (upto > kSlabPages) upto = kSlabPages;
  // A single page costs one fault either way.
  if (upto - slab.pages_ready >= 2)
    os::populate(slab_data(&slab) + size_t(slab.pages_ready) * kPageSize, size_t(upto - slab.pages_ready) * kPageSize);
  slab.pages_ready = uint8_t(upto);
}

}  // namespace

unsigned central_take(unsigned cls, unsigned wanted, FreeBlock** chain) {
  const SizeClassInfo& info = kSizeClasses[cls];
  CentralClass& central = my_central(cls);
  ChainBuilder taken;
  const FreeBlock* corrupt = nullptr;
  unsigned got = 0;
  {
    LockGuard guard(central.lock);
    while (got < wanted) {
      SlabMeta* slab;
      if (!central.partial.empty()) {
        slab = &g_pool.slabs[central.partial.head()];
      } else if (!(slab = adopt_orphan_slab(cls, central))) {
        slab = slab_acquire(cls);
        if (!slab) break;
        __atomic_store_n(&slab->shard, t_central_shard, __ATOMIC_RELAXED);
        central.partial.push_front(g_pool.slabs, slab_number(slab));
      }
      unsigned before = got;
      while (got < wanted && slab->free) {
        FreeBlock* block = slab->free;
        if (!next_free_of_class(block, cls, &slab->free)) {
          corrupt = block;
          drop_free_list(*slab, got - before);
          break;
        }
        taken.append(block);
        ++got;
      }
      if (got < wanted && slab->carved < slab->capacity) {
        char* cursor = slab_data(slab) + size_t(slab->carved) * info.size;
        unsigned carve = slab->capacity - slab->carved;
        if (carve > wanted - got) carve = wanted - got;
        fault_in_ahead(*slab, (size_t(slab->carved) + carve) * info.size);
        // A carved block becomes a block start (its state byte) and free (its mark, once linked).
        for (unsigned i = 0; i < carve; ++i, cursor += info.size) {
          FreeBlock* block = reinterpret_cast<FreeBlock*>(cursor);
          slot_state(block) = kSlotAllocated;
          taken.append(block);
        }
        slab->carved += carve;
        got += carve;
      }
      slab->used += got - before;
      if (!slab->free && slab->carved == slab->capacity) central.partial.remove(g_pool.slabs, slab_number(slab), kSlabFull);
    }
    *chain = taken.finish();
  }
  if (corrupt) report_corrupt_block(corrupt, cls, "malloc");
  return got;
}

unsigned central_take_slab_list(unsigned cls, unsigned least, unsigned most, FreeBlock** chain) {
  CentralClass& central = my_central(cls);
  LockGuard guard(central.lock);
  if (central.partial.empty()) return 0;
  SlabMeta* slab = &g_pool.slabs[central.partial.head()];
  // Blocks carved and not out of the slab are exactly those on its list (drop_free_list keeps
  // this true after a corrupted list).
  const unsigned on_list = slab->carved - slab->used;
  if (!slab->free || on_list < least || on_list > most) return 0;
  *chain = slab->free;
  slab->free = nullptr;
  slab->used += on_list;
  if (slab->carved == slab->capacity) central.partial.remove(g_pool.slabs, slab_number(slab), kSlabFull);
  return on_list;
}

namespace {

// The centre whose lock central_return holds, and its shard (kCentralShards: none).
struct HeldCentre {
  CentralClass* centre;
  unsigned shard;
};

// Leaves the lock held for the lock of the centre of cls that slab belongs to. Adoption may move
// a slab to another shard, under the lock of the shard it leaves: its shard read again once that
// lock is held is its shard. Out of line, so that central_return's loop keeps its figures in
// registers.
MEMF_NOINLINE HeldCentre switch_centre(HeldCentre held, const SlabMeta* slab, unsigned cls) {
  for (;;) {
    const unsigned shard = slab_shard(slab);
    if (shard == held.shard) return held;
    if (held.centre) held.centre->lock.unlock();
    held = {&g_central[shard][cls], shard};
    held.centre->lock.lock();
  }
}

// central_return for either kind of chain: kChecked, every link was checked by the caller (so
// the chain holds count blocks); otherwise each is checked here before it is followed.
template <bool kChecked>
void return_chain(unsigned cls, FreeBlock* chain, unsigned count) {
  const FreeBlock* corrupt = nullptr;
  // Copied once: the stores into blocks and slabs below could otherwise alias them.
  const uintptr_t key = g_pool.free_key;
  const uintptr_t base = g_pool.base;
  SlabMeta* const slabs = g_pool.slabs;
  // A chain from one thread's bin is mostly of one shard, so the lock changes hands rarely. The
  // slab cannot be released while the caller holds blocks of it.
  HeldCentre held{nullptr, kCentralShards};
  for (unsigned i = 0; i < count; ++i) {
    FreeBlock* block = chain;
    SlabMeta* slab = &slabs[(uintptr_t(block) - base) >> kSlabShift];
    if (MEMF_UNLIKELY(slab_shard(slab) != held.shard)) held = switch_centre(held, slab, cls);
    // The chain's last block may link on to blocks that are not the caller's: not followed.
    if (kChecked) {
      chain = link_of(key, block);
    } else if (!(i + 1 < count ? next_free_of_class(block, cls, &chain) : block_is_free(key, block))) {
      corrupt = block;  // it and the rest of the chain stay counted as used by their slabs
      break;
    }
    make_free(key, block, slab->free);
    slab->free = block;
    if (MEMF_UNLIKELY(slab->list == kSlabFull)) held.centre->partial.push_front(slabs, uint32_t(slab - slabs));
    if (MEMF_UNLIKELY(--slab->used == 0)) {
      held.centre->partial.remove(slabs, uint32_t(slab - slabs), kSlabFull);
      slab_release(slab);
    }
    if (!kChecked && !chain) break;
  }
  if (held.centre) held.centre->lock.unlock();
  if (corrupt) report_corrupt_block(corrupt, cls, "free");
}

}  // namespace

void central_return(unsigned cls, FreeBlock* chain, unsigned count, bool checked) {
  if (!chain) return;
  if (checked) return_chain<true>(cls, chain, count);
  else return_chain<false>(cls, chain, count);
}

FreeBlock* central_take_densest(unsigned cls, const SlabMeta* avoid) {
  CentralClass& central = avoid ? slab_central(avoid, cls) : my_central(cls);
  FreeBlock* block = nullptr;
  {
    LockGuard guard(central.lock);
    SlabMeta* best = nullptr;
    for (uint32_t i = central.partial.head(); i != kNoSlab; i = g_pool.slabs[i].next) {
      SlabMeta* slab = &g_pool.slabs[i];
      if (slab == avoid || !slab->free) continue;
      if (!best || slab->used > best->used) best = slab;
    }
    if (!best || (avoid && best->used <= avoid->used)) return nullptr;
    block = best->free;
    const bool intact = next_free_of_class(block, cls, &best->free);
    if (intact) ++best->used;
    else drop_free_list(*best, 0);
    if (!best->free && best->carved == best->capacity) central.partial.remove(g_pool.slabs, slab_number(best), kSlabFull);
    if (intact) {
      mark_block_live(block);
      return block;
    }
  }
  report_corrupt_block(block, cls, "memf_defrag_move");
  return nullptr;
}

bool central_slab_is_sparse(unsigned cls, const SlabMeta* slab) {
  CentralClass& central = slab_central(slab, cls);
  LockGuard guard(central.lock);
  if (slab->list != kSlabPartial) return false;  // full slabs are not worth emptying
  uint64_t used = 0, slabs = 0;
  for (uint32_t i = central.partial.head(); i != kNoSlab; i = g_pool.slabs[i].next) {
    used += g_pool.slabs[i].used;
    ++slabs;
  }
  // Sparser than the average partial slab, and some other slab can take the block.
  return slabs > 1 && uint64_t(slab->used) * slabs < used;
}

void central_lock_all() {
  for (auto& shard : g_central)
    for (CentralClass& central : shard) {
      central.transfer_lock.lock();
      central.lock.lock();
    }
}

void central_unlock_all() {
  for (auto& shard : g_central)
    for (CentralClass& central : shard) {
      central.lock.unlock();
      central.transfer_lock.unlock();
    }
}

void central_reset_locks_after_fork() {
  for (auto& shard : g_central)
    for (CentralClass& central : shard) {
      central.lock.reset_after_fork();
      central.transfer_lock.reset_after_fork();
    }
}

size_t central_flush_transfers() {
  size_t blocks = 0;
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    for (auto& shard : g_central)
      while (FreeBlock* batch = pop_batch_of(shard[cls])) {
        central_return(cls, batch, kSizeClasses[cls].batch);
        blocks += kSizeClasses[cls].batch;
      }
  }
  return blocks;
}

CentralClassStats central_stats(unsigned cls) {
  CentralClassStats stats{};
  for (auto& shard : g_central) {
    CentralClass& central = shard[cls];
    stats.transfer_blocks += size_t(central.transfer.count()) * kSizeClasses[cls].batch;
    LockGuard guard(central.lock);
    stats.partial_slabs += central.partial.size();
  }
  return stats;
}

}  // namespace memf
