#include "thread_cache.hpp"

#include <algorithm>
#include <atomic>

#include "accounting.hpp"
#include "central.hpp"
#include "config.hpp"
#include "corrupt_list.hpp"
#include "fork.hpp"
#include "large.hpp"
#include "profile_sampling.hpp"
#include "spare_blocks.hpp"
#include "thread_exit.hpp"

namespace memf {

__thread ThreadCache t_cache MEMF_TLS;
constinit bool g_record_all = false;

namespace {

constinit SpinLock g_registry_lock;
ThreadCache* g_registry = nullptr;  // active caches
size_t g_live_caches = 0;
// Counters of exited threads; fresh ones four pages at a time (a block is 816 bytes with 40 classes).
constinit SpareBlocks<ThreadCounters, 4 * kPageSize / sizeof(ThreadCounters)> g_spare_counters;

// Figures of threads that exited (folded in under g_registry_lock) and of uncached operations.
struct RetiredUsage {
  std::atomic<uint64_t> allocations[kNumClasses];
  std::atomic<int64_t> live[kNumClasses];
};
constinit RetiredUsage g_retired = {};
constinit std::atomic<int64_t> g_running_bytes{0};

// Adds the thread's unpublished change to the process's running total (and raises the peak).
void publish_pending(ThreadCache* cache) {
  const int64_t bytes = cache->counters->unpublished_bytes;
  if (bytes == 0) return;
  cache->counters->unpublished_bytes = 0;
  const int64_t total = g_running_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (bytes > 0) note_pool_usage(total);
}

// The change in the thread's live blocks of cls since it was last reported, gathered per thread
// and added to the running total once it reaches kRunningTotalStep bytes either way: the total
// is one cache line written by every thread, and a refill or drain of every batch writing it
// made threads that pass blocks to each other wait on it (mimalloc-bench's `xmalloc-test`:
// 18-20% of the time when the line crosses between the cores slowly, design.md "Choices and
// measurements"). The price: the total, so the peak and the limit, may lag by up to the step
// per thread, on top of the bins' own band.
void publish_usage(ThreadCache* cache, unsigned cls) {
  const CacheBin& bin = cache->bins[cls];
  ThreadCounters& counters = *cache->counters;
  const int64_t live = int64_t(bin.moved_in - counters.moved_out[cls]) - int64_t(bin.count());
  const int64_t change = live - counters.reported_live[cls];
  if (change == 0) return;
  counters.reported_live[cls] = live;
  counters.unpublished_bytes += change * int64_t(kSizeClasses[cls].size);
  if (counters.unpublished_bytes < kRunningTotalStep && counters.unpublished_bytes > -kRunningTotalStep) return;
  publish_pending(cache);
}
constinit std::atomic<uint32_t> g_drain_epoch{0};

void registry_add(ThreadCache* cache) {
  LockGuard guard(g_registry_lock);
  cache->registry_prev = nullptr;
  cache->registry_next = g_registry;
  if (g_registry) g_registry->registry_prev = cache;
  g_registry = cache;
  ++g_live_caches;
}

// Caller holds g_registry_lock (or is the only thread, in a fork child).
void registry_unlink(ThreadCache* cache) {
  if (cache->registry_prev) cache->registry_prev->registry_next = cache->registry_next;
  else g_registry = cache->registry_next;
  if (cache->registry_next) cache->registry_next->registry_prev = cache->registry_prev;
  cache->registry_next = cache->registry_prev = nullptr;
  --g_live_caches;
}

// Cuts the first n blocks (n >= 1) off the calling thread's own bin: *last gets the n-th and
// *rest the block after it. Each block's pair is checked before its link is followed; returns
// the block that failed (the program wrote over it after its free), nullptr when none did. The
// pair is the whole check here, as in malloc's pop: only memf writes a valid pair (it binds the
// block's address and its link under the process's secret), and only this thread changes this
// bin, whose lists its own pushes and its refills built. Lists a thread takes from elsewhere
// (a refill's walk of slab lists, a fork child's copies of other threads' bins) are walked with
// next_free_of_class, which also checks that each link leads to a block start of the class.
MEMF_ALWAYS_INLINE const FreeBlock* split_own_bin(uintptr_t key, FreeBlock* first, unsigned n, FreeBlock** last,
                                                  FreeBlock** rest) {
  FreeBlock* block = first;
  for (unsigned i = 1;; ++i) {
    FreeBlock* next;
    if (MEMF_UNLIKELY(!follow_link(key, block, &next))) return block;
    if (i == n) {
      *last = block;
      *rest = next;
      return nullptr;
    }
    if (MEMF_UNLIKELY(!next)) return block;  // the list ends before the bin's count does
    block = next;
  }
}

// The last of the first n blocks of chain (n >= 1), each link checked; nullptr when one fails.
FreeBlock* checked_nth(unsigned cls, FreeBlock* chain, unsigned n) {
  FreeBlock* last = chain;
  for (unsigned i = 1; i < n; ++i)
    if (!next_free_of_class(last, cls, &last) || !last) return nullptr;
  return last;
}

// Gives a chain of `count` blocks of cls back: whole batches to the transfer stack while it has
// room, the rest to the slabs. A corrupted link stops the batches: the slabs' path then gives back
// what comes before it, and reports it.
void give_back(unsigned cls, FreeBlock* chain, unsigned count) {
  const unsigned batch = kSizeClasses[cls].batch;
  while (count >= batch) {
    FreeBlock* last = checked_nth(cls, chain, batch);
    FreeBlock* rest;
    if (!last || !next_free_of_class(last, cls, &rest)) break;
    make_free(last, nullptr);
    if (!central_push_batch(cls, chain)) {
      make_free(last, rest);
      break;
    }
    chain = rest;
    count -= batch;
  }
  if (count) central_return(cls, chain, count);
}

// The bin's list is corrupted (block `bad` on it failed a check in operation): every block on it
// leaves the cache for good, then the report (which may allocate: the bin is empty and sane).
void drop_bin(ThreadCache* cache, unsigned cls, const char* operation, const FreeBlock* bad) {
  CacheBin& bin = cache->bins[cls];
  cache->counters->moved_out[cls] += bin.count();
  bin.head = nullptr;
  bin.room = bin.max;
  publish_usage(cache, cls);
  report_corrupt_block(bad, cls, operation);
}

// Empties every bin; with `keep_room` the bins stay usable (back at their initial size: growth
// starts over), otherwise they get no room at all (every later free then takes the slow path:
// used for exiting threads).
void flush(ThreadCache* cache, bool keep_room) {
  profile_settle_lagged_free();
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    CacheBin& bin = cache->bins[cls];
    if (bin.head) {
      cache->counters->moved_out[cls] += bin.count();
      give_back(cls, bin.head, bin.count());
    }
    bin.head = nullptr;
    bin.max = keep_room ? kSizeClasses[cls].cache_max : 0;
    bin.room = bin.max;
  }
  cache->grown_bytes = 0;
}

// What bins of one thread may grow by in all (beyond their initial sizes).
constexpr uint32_t kMaxCacheGrowth = uint32_t(1) << 20;

// Blocks the bin of cls may still grow by: within the class's cap and the thread's budget.
uint32_t bin_growth_room(const ThreadCache& cache, unsigned cls) {
  const SizeClassInfo& info = kSizeClasses[cls];
  const uint32_t max = uint32_t(cache.bins[cls].max);
  const uint32_t by_cap = max < info.cache_cap ? info.cache_cap - max : 0;
  const uint32_t by_budget = (kMaxCacheGrowth - cache.grown_bytes) / info.size;
  return by_cap < by_budget ? by_cap : by_budget;
}

// Grows the bin of cls by `blocks` (at most its bin_growth_room).
void grow_bin_by(ThreadCache& cache, unsigned cls, uint32_t blocks) {
  CacheBin& bin = cache.bins[cls];
  cache.grown_bytes += blocks * kSizeClasses[cls].size;
  bin.max += int32_t(blocks);
  bin.room += int32_t(blocks);
}

// The bin of cls holds max + 1 blocks. If it was refilled since its last overflow, the thread is
// allocating and freeing bursts larger than the bin: grow it by a batch (within the class's cap
// and the thread's budget) instead of draining, so that the next burst stays in the cache.
// True when it grew.
bool grow_bin(ThreadCache* cache, unsigned cls) {
  CacheBin& bin = cache->bins[cls];
  const uint32_t moved_in = uint32_t(bin.moved_in);
  if (moved_in == cache->counters->moved_in_at_overflow[cls]) return false;
  cache->counters->moved_in_at_overflow[cls] = moved_in;
  const unsigned batch = kSizeClasses[cls].batch;
  if (bin_growth_room(*cache, cls) < batch) return false;
  grow_bin_by(*cache, cls, batch);
  return true;
}

// Caller holds g_registry_lock (or is alone, in a fork child) and has flushed the cache: folds its
// figures into the retired totals and forgets it.
void retire(ThreadCache* cache) {
  registry_unlink(cache);
  for (unsigned cls = 0; cls < kNumClasses; ++cls) publish_usage(cache, cls);
  publish_pending(cache);
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    g_retired.allocations[cls].fetch_add(bin_allocations(*cache, cls), std::memory_order_relaxed);
    g_retired.live[cls].fetch_add(int64_t(cache->bins[cls].moved_in - cache->counters->moved_out[cls]), std::memory_order_relaxed);
  }
  g_spare_counters.give(cache->counters);
  cache->counters = nullptr;
}

// Runs at thread exit (base/thread_exit.hpp). Later allocations of this thread go uncached.
void on_thread_exit() {
  ThreadCache* cache = &t_cache;
  if (cache->state != ThreadState::kActive) return;
  cache->state = ThreadState::kDead;
  cache->fast_alloc_bound = 0;
  cache->medium_alloc_bound = 0;
  flush(cache, false);
  central_leave_shard();
  LockGuard guard(g_registry_lock);
  retire(cache);
}

void fork_prepare() {
  // Lock order everywhere in the engine: class lock -> arena lock; the others are leaves.
  central_lock_all();
  pool_arena_lock().lock();
  large_lock_all();
  g_registry_lock.lock();
  g_spare_counters.lock();
}

void fork_parent() {
  g_spare_counters.unlock();
  g_registry_lock.unlock();
  large_unlock_all();
  pool_arena_lock().unlock();
  central_unlock_all();
}

void fork_child() {
  g_spare_counters.reset_after_fork();
  g_registry_lock.reset_after_fork();
  large_reset_locks_after_fork();
  pool_arena_lock().reset_after_fork();
  central_reset_locks_after_fork();
  central_shards_after_fork_child();
  thread_cache_after_fork_child();
}

}  // namespace

void thread_cache_init() {
  thread_exit_register(kThreadExitEngine, on_thread_exit);
  fork_register(kForkEngine, {fork_prepare, fork_parent, fork_child});
}

bool thread_cache_activate() {
  ThreadCache* cache = &t_cache;
  if (cache->state == ThreadState::kActive) return true;
  if (cache->state == ThreadState::kDead) return false;
  // A block handed on by an exited thread holds its figures: they start over here.
  ThreadCounters* counters = g_spare_counters.take();
  if (!counters) return false;
  *counters = ThreadCounters{};
  cache->counters = counters;
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    CacheBin& bin = cache->bins[cls];
    bin.max = kSizeClasses[cls].cache_max;
    // A block a free pushed before the set-up is taken off again by thread_cache_overflow, the
    // only caller that finds one.
    bin.room = bin.max;
  }
  for (size_t index = 0; index < kDirectEntries; ++index) cache->bin_of_size[index] = &cache->bins[kClassIndexTable[index]];
  thread_cache_arm_sampling(*cache);
  central_join_shard();
  if (cache->category == 0) cache->category = kCategoryUnknown;
  int here = 0;
  cache->stack_hint = uintptr_t(&here);
  cache->state = ThreadState::kActive;
  thread_cache_update_fast_bound();
  registry_add(cache);
  thread_exit_arm();
  return true;
}

namespace {

// The optimizer asks idle threads' caches back: each thread answers on its next slow path (a
// refill, or a drain of a full bin), by flushing its whole cache. True when it flushed.
bool answer_drain_request() {
  const uint32_t epoch = g_drain_epoch.load(std::memory_order_relaxed);
  if (MEMF_LIKELY(epoch == t_cache.drain_epoch)) return false;
  t_cache.drain_epoch = epoch;
  thread_cache_flush_current();
  return true;
}

}  // namespace

void* thread_cache_refill(unsigned cls) {
  CacheBin& bin = t_cache.bins[cls];
  answer_drain_request();
  if (!admit_allocation(size_t(kSizeClasses[cls].batch) * kSizeClasses[cls].size)) return nullptr;
  FreeBlock* chain;
  unsigned count;
  const unsigned batch = kSizeClasses[cls].batch;
  for (;;) {
    chain = central_pop_batch(cls);
    count = batch;
    // A slab's whole list when it is at least half a batch and the bin holds it or may grow to:
    // handed over without reading a block. A refill that walked it instead would read each
    // block's link one after the other, lines freed long before or by another core, under the
    // class lock, where the bin reads each one as it hands it out, while the program runs.
    // Shorter lists are gathered across slabs by central_take.
    if (!chain) {
      const uint32_t holds = uint32_t(bin.max) + 1;  // the bin is empty
      count = central_take_slab_list(cls, (batch + 1) / 2, holds + bin_growth_room(t_cache, cls), &chain);
      if (count > holds) grow_bin_by(t_cache, cls, count - holds);  // its room is set below
    }
    if (!chain) {
      count = central_take(cls, batch, &chain);
      if (count == 0) return nullptr;
    }
    if (next_free_of_class(chain, cls, &bin.head)) break;
    // A parked batch whose first block was written over: the batch is lost, the next one tried.
    report_corrupt_block(chain, cls, "malloc");
  }
  // The bin was empty: it now holds count - 1 blocks.
  bin.moved_in += count;
  bin.room = bin.max - int32_t(count - 1);
  // The block returned is counted as allocated by the caller; report the others as cached.
  publish_usage(&t_cache, cls);
  return chain;
}

void thread_cache_overflow(unsigned cls) {
  // Every branch below may give blocks back, an exiting thread's included.
  profile_settle_lagged_free();
  ThreadCache* cache = &t_cache;
  CacheBin& bin = cache->bins[cls];
  if (cache->state != ThreadState::kActive) {
    // The thread's first free before its first allocation, or a free while it exits: the block
    // (the bin's only one) goes back to its slab. A new thread has no blocks of its own, so this
    // one is another thread's, typically the object its creator handed it; kept, it would be the
    // new thread's first block of the class, on a line the creator's neighbouring blocks share
    // (passive false sharing: mimalloc-bench's cache-scratch). Its slab is in the creator's
    // shard, and the new thread refills from its own.
    const bool active = thread_cache_activate();
    FreeBlock* block = bin.head;
    bin.head = link_of(g_pool.free_key, block);  // just written by the free that called
    bin.room = active ? bin.max : 0;
    pool_free_uncached(block, cls);
    return;
  }
  if (answer_drain_request()) return;  // the whole bin went back, the block just freed with it
  if (grow_bin(cache, cls)) return;
  // The bin holds max + 1 blocks: drain one batch from its head.
  const unsigned batch = kSizeClasses[cls].batch;
  FreeBlock* first = bin.head;
  FreeBlock* last;
  if (const FreeBlock* bad = split_own_bin(g_pool.free_key, first, batch, &last, &bin.head))
    return drop_bin(cache, cls, "free", bad);
  bin.room = int32_t(batch) - 1;
  make_free(last, nullptr);
  cache->counters->moved_out[cls] += batch;
  // Every link of the batch was checked just above: it goes to the transfer stack, or to the
  // slabs without a second check.
  if (!central_push_batch(cls, first)) central_return(cls, first, batch, true);
  publish_usage(cache, cls);
}

void* thread_cache_bin_corrupted(unsigned cls) {
  drop_bin(&t_cache, cls, "malloc", t_cache.bins[cls].head);
  return nullptr;
}

void thread_cache_flush_current() {
  if (t_cache.state == ThreadState::kActive) flush(&t_cache, true);
}

void* pool_alloc_uncached(unsigned cls) {
  FreeBlock* block = nullptr;
  if (!central_take(cls, 1, &block)) return nullptr;
  account_uncached(cls, 1, 1);
  return block;
}

void pool_free_uncached(void* block, unsigned cls) {
  FreeBlock* single = static_cast<FreeBlock*>(block);
  make_free(single, nullptr);
  central_return(cls, single, 1);
  account_uncached(cls, -1, 0);
}

namespace {

// How many blocks from head on are, as far as can be checked, a bin of cls: free block starts of
// the class. In a fork child another thread's bin cannot be trusted further: fork copies the
// thread's TLS and the blocks' pages at different moments while the thread runs on, so the
// child may see a bin's head and count from before a push or pop and a block's words from after.
unsigned checked_bin_length(unsigned cls, FreeBlock* head, unsigned count) {
  unsigned length = 0;
  if (!head || !is_block_start_of_class(head, cls)) return 0;
  for (FreeBlock* block = head; block && length < count; ++length)
    if (!next_free_of_class(block, cls, &block)) break;
  return length;
}

// flush() for a thread that no longer exists (fork child): gives back the part of each bin that
// checks out; the rest, blocks that thread held or was moving, stays out of use.
void flush_copied(ThreadCache* cache) {
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    CacheBin& bin = cache->bins[cls];
    const unsigned length = checked_bin_length(cls, bin.head, bin.count());
    if (length) give_back(cls, bin.head, length);
    cache->counters->moved_out[cls] += length;
    bin.head = nullptr;
    bin.max = bin.room = 0;
  }
}

}  // namespace

void thread_cache_after_fork_child() {
  // Only the forking thread exists in the child; the other threads' TLS is still mapped (the
  // whole address space was copied), so their cached blocks can be handed back.
  for (ThreadCache* cache = g_registry; cache;) {
    ThreadCache* next = cache->registry_next;
    if (cache != &t_cache) {
      flush_copied(cache);
      cache->state = ThreadState::kDead;
      retire(cache);
    }
    cache = next;
  }
}

SpinLock& thread_cache_registry_lock() { return g_registry_lock; }

size_t thread_cache_live_count() {
  LockGuard guard(g_registry_lock);
  return g_live_caches;
}

size_t thread_cache_stack_hints(uintptr_t* out, size_t capacity) {
  size_t count = 0;
  LockGuard guard(g_registry_lock);
  for (ThreadCache* cache = g_registry; cache; cache = cache->registry_next, ++count)
    if (count < capacity) out[count] = cache->stack_hint;
  return count;
}

void thread_cache_request_drain() { g_drain_epoch.fetch_add(1, std::memory_order_relaxed); }

void set_thread_category(uint8_t tag) {
  t_cache.category = tag;
  thread_cache_update_fast_bound();
}

void thread_cache_arm_sampling(ThreadCache& cache) {
  cache.profile_epoch = __atomic_load_n(&g_profile_epoch, __ATOMIC_ACQUIRE);
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    const uint64_t allocations = bin_allocations(cache, cls);
    const int64_t left = profile_class_gap(cls);
    __atomic_store_n(&cache.allocation_base[cls], allocations + uint64_t(left), __ATOMIC_RELAXED);
    __atomic_store_n(&cache.bins[cls].sample_left, left, __ATOMIC_RELAXED);
  }
}

bool thread_cache_sample_due(unsigned cls) {
  ThreadCache& cache = t_cache;
  CacheBin& bin = cache.bins[cls];
  if (cache.profile_epoch != __atomic_load_n(&g_profile_epoch, __ATOMIC_RELAXED)) {
    // Armed in an older epoch: this allocation is counted (above), then every bin re-armed.
    thread_cache_arm_sampling(cache);
    if (bin.sample_left >= 0) return false;
  }
  // The sample: the count stays, the countdown restarts.
  const uint64_t allocations = bin_allocations(cache, cls);
  bin.sample_left = profile_class_gap(cls);
  cache.allocation_base[cls] = allocations + uint64_t(bin.sample_left);
  return g_profile_mode == ProfileMode::kSampled;
}

uint64_t thread_allocation_count() {
  const ThreadCache& cache = t_cache;
  uint64_t total = 0;
  for (unsigned cls = 0; cls < kNumClasses; ++cls) total += bin_allocations(cache, cls);
  return total + profile_thread_large_allocations();
}

void thread_cache_update_fast_bound() {
  ThreadCache& cache = t_cache;
  const bool fast = cache.state == ThreadState::kActive && !g_record_all && cache.category == kCategoryUnknown;
  const size_t pool_limit = config().pool_limit;
  cache.medium_alloc_bound = fast ? pool_limit + 1 : 0;
  cache.fast_alloc_bound = fast ? std::min(pool_limit, kDirectSizeLimit) + 1 : 0;
}

int64_t pool_running_bytes() { return g_running_bytes.load(std::memory_order_relaxed); }

void account_uncached(unsigned cls, int64_t live_delta, uint64_t allocations) {
  g_retired.live[cls].fetch_add(live_delta, std::memory_order_relaxed);
  const int64_t bytes = live_delta * int64_t(kSizeClasses[cls].size);
  const int64_t total = g_running_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (bytes > 0) note_pool_usage(total);
  if (allocations) g_retired.allocations[cls].fetch_add(allocations, std::memory_order_relaxed);
}

// Other threads' bins are read while they run: the relaxed atomic loads make the figures at
// worst as old as those threads' last few operations.
__attribute__((no_sanitize("thread"))) void thread_cache_usage(PoolUsage* usage) {
  *usage = PoolUsage{};
  LockGuard guard(g_registry_lock);
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    usage->allocations[cls] = g_retired.allocations[cls].load(std::memory_order_relaxed);
    usage->live[cls] = g_retired.live[cls].load(std::memory_order_relaxed);
  }
  for (ThreadCache* cache = g_registry; cache; cache = cache->registry_next) {
    for (unsigned cls = 0; cls < kNumClasses; ++cls) {
      CacheBin& bin = cache->bins[cls];
      const int32_t count = __atomic_load_n(&bin.max, __ATOMIC_RELAXED) - __atomic_load_n(&bin.room, __ATOMIC_RELAXED);
      const uint64_t moved_in = __atomic_load_n(&bin.moved_in, __ATOMIC_RELAXED);
      const uint64_t moved_out = __atomic_load_n(&cache->counters->moved_out[cls], __ATOMIC_RELAXED);
      usage->allocations[cls] += bin_allocations(*cache, cls);
      usage->live[cls] += int64_t(moved_in - moved_out) - count;
      if (count > 0) {
        usage->cached_blocks += uint64_t(count);
        usage->cached_bytes += uint64_t(count) * kSizeClasses[cls].size;
      }
    }
  }
}

}  // namespace memf
