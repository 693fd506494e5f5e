// Per-thread caches: one intrusive free list per size class, living in initial-exec TLS itself,
// so the fast paths in engine.hpp reach a bin with one %fs-relative access and no pointer to
// check. Everything here is the slow path (set-up, refill, drain, thread exit).
#pragma once
#include <cstddef>
#include <cstdint>

#include "accounting.hpp"
#include "compiler.hpp"
#include "free_mark.hpp"
#include "pool_arena.hpp"
#include "profile_sampling.hpp"
#include "size_classes.hpp"
#include "spin_lock.hpp"

namespace memf {

// room counts down to the next drain: a free that takes it below zero (the bin then holds
// max + 1 blocks) drains a batch. A zero-initialised bin (new thread) has no blocks and no room,
// so both fast paths fall to the slow path, which sets the thread up.
struct CacheBin {
  FreeBlock* head;
  int32_t room;  // max - (blocks in the bin)
  int32_t max;
  // Counts every allocation of the class down (fast and slow path); the allocation that takes it
  // below zero is the heap profile's next sample (profile_sampling.hpp) and stops on the slow
  // path. kNoSample when not sampling. The thread's allocation count for the class is
  // ThreadCache::allocation_base - sample_left.
  int64_t sample_left;
  uint64_t moved_in;     // blocks that entered the bin from the centre (refills)
  uint32_t count() const { return uint32_t(max - room); }
};

enum class ThreadState : uint8_t { kNew = 0, kActive, kDead };

// Usage accounting without work on the fast path: a thread's live pool blocks of a class are
// (blocks moved into its bin) - (blocks moved out to the centre) - (blocks in the bin now);
// frees need no counter of their own. Those figures change only on slow paths, plus the bin
// count, which is the thread's own.
// A thread adds the changes in its live pool bytes to the process's running total in steps of at
// least this much (thread_cache.cpp, publish_usage); an exiting thread adds the rest.
constexpr int64_t kRunningTotalStep = int64_t(64) << 10;

// A thread's per-class figures that only its slow paths change: in a block of their own (base/
// spare_blocks.hpp), taken when the thread is set up and handed on when it exits: static TLS
// keeps room for the fast path's table (glibc zeroes static TLS for every new thread; the
// interposer's tls_size contract bounds it).
struct ThreadCounters {
  uint64_t moved_out[kNumClasses];  // blocks drained to the centre
  // The low bits of bins[cls].moved_in at the bin's last overflow: a refill since then means the
  // bin oscillates between empty and full, and may grow (thread_cache_overflow).
  uint32_t moved_in_at_overflow[kNumClasses];
  int64_t reported_live[kNumClasses];  // live blocks last added to the process's running total
  // Bytes of those changes not yet added to it: under kRunningTotalStep either way (publish_usage).
  int64_t unpublished_bytes;
  ThreadCounters* next_spare;  // SpareBlocks' link while no thread has the block
};

// The malloc fast path finds the bin of sizes up to this in its direct table (below); larger pool
// sizes by the class table, one branch further (engine.hpp, pool_try_alloc).
constexpr size_t kDirectSizeLimit = 1024;
constexpr size_t kDirectEntries = size_lookup_index(kDirectSizeLimit) + 1;

struct ThreadCache {
  CacheBin bins[kNumClasses];
  // &bins[class of the size], by size_lookup_index(size) for sizes up to kDirectSizeLimit: the
  // malloc fast path reaches its bin with one %fs-relative load (no table address to form, no
  // multiply). Filled when the thread is set up, before fast_alloc_bound lets any size through.
  CacheBin* bin_of_size[kDirectEntries];
  ThreadCounters* counters;  // while the thread is set up (kActive); nullptr before
  uint32_t grown_bytes;  // what growth added to this thread's bins, within kMaxCacheGrowth
  uint32_t profile_epoch;  // g_profile_epoch when the bins' sample countdowns were last armed
  uint64_t allocation_base[kNumClasses];  // see CacheBin::sample_left
  // malloc takes the fast path for sizes below this: min(pool_limit, kDirectSizeLimit) + 1 once
  // the thread is set up; 0 while the thread records every allocation (leak check, a category
  // scope) or is not set up.
  size_t fast_alloc_bound;
  // The same for pool sizes above the direct table: pool_limit + 1, or 0 when fast_alloc_bound is.
  size_t medium_alloc_bound;
  uintptr_t stack_hint;  // an address in this thread's stack, for the leak checker's roots
  ThreadCache* registry_next;  // live caches, for fork, statistics and releasing memory
  ThreadCache* registry_prev;
  uint8_t category;  // tag of allocations made now (kCategoryUnknown when none; 0 before set-up)
  ThreadState state;
  uint32_t drain_epoch;  // the last cache-drain request this thread answered
};

// Pushes block (live until now) on bin, encoding its link with key: the one push of every free
// path. Returns the bin's room after it; below zero the bin is over its max and the caller
// drains it (thread_cache_overflow).
MEMF_ALWAYS_INLINE int32_t push_on_bin(uintptr_t key, CacheBin& bin, FreeBlock* block) {
  make_free(key, block, bin.head);
  bin.head = block;
  return --bin.room;
}

// Allocations of class cls made by the thread of cache (racy but harmless read by others).
MEMF_ALWAYS_INLINE uint64_t bin_allocations(const ThreadCache& cache, unsigned cls) {
  return __atomic_load_n(&cache.allocation_base[cls], __ATOMIC_RELAXED) -
         uint64_t(__atomic_load_n(&cache.bins[cls].sample_left, __ATOMIC_RELAXED));
}
// Sets every bin's countdown from the current sampling settings (a new thread, a new epoch),
// keeping the allocation counts.
void thread_cache_arm_sampling(ThreadCache& cache);
// Allocations made by the calling thread so far, all classes (the profile's "temporary" test).
uint64_t thread_allocation_count();

// Zero-initialised (.tbss): no allocation, usable from the very first malloc of every thread.
extern __thread ThreadCache t_cache MEMF_TLS MEMF_HIDDEN;

// The countdown of cls ran out (or the sampling settings changed): re-arms it; true when this
// allocation is the heap profile's sample.
bool thread_cache_sample_due(unsigned cls);
// Counts one allocation of cls on the slow path; true when it is the heap profile's sample
// (the fast path may already have counted it: then sample_left is below zero). Inline: every
// allocation of exact mode and of a tagged thread comes here.
MEMF_ALWAYS_INLINE bool thread_cache_count_allocation(unsigned cls) {
  ThreadCache& cache = t_cache;
  CacheBin& bin = cache.bins[cls];
  if (bin.sample_left >= 0) --bin.sample_left;
  if (MEMF_LIKELY(bin.sample_left >= 0 && cache.profile_epoch == __atomic_load_n(&g_profile_epoch, __ATOMIC_RELAXED)))
    return false;
  return thread_cache_sample_due(cls);
}

// The tag of the calling thread's category now (kCategoryUnknown outside scopes), inline for the
// engine's recording paths.
MEMF_ALWAYS_INLINE uint8_t thread_category() { return t_cache.category ? t_cache.category : kCategoryUnknown; }
// Makes tag the calling thread's category (the tracker's scopes): a tagged thread allocates on
// the slow path, where the tag is recorded and counted.
void set_thread_category(uint8_t tag);

// Sets up this thread's cache (its first allocation); false once the thread is exiting.
bool thread_cache_activate();
// Refills the bin of cls and returns one block, or nullptr when the pools are exhausted.
void* thread_cache_refill(unsigned cls);
// A free found the bin of cls full (room was 0, the block is already pushed): drains a batch,
// or sets the thread up, or (exiting thread) hands the block back to its slab.
void thread_cache_overflow(unsigned cls);
// The first block of this thread's bin of cls failed its check (core/free_mark.hpp): drops the
// bin's list, reports it (returns only under MEMF_ON_ERROR=report); nullptr.
void* thread_cache_bin_corrupted(unsigned cls);
// Returns every block cached by this thread to the centre (memf_release_memory); stays usable.
void thread_cache_flush_current();

// Pool access for threads whose cache is gone (exiting threads): one block at a time, under the
// class lock.
void* pool_alloc_uncached(unsigned cls);
void pool_free_uncached(void* block, unsigned cls);

// Installs the thread-exit and fork handlers; called once from engine initialisation.
void thread_cache_init();
// Asks every thread to flush its cache on its next slow path (the optimizer, for threads that are
// idle now): one counter bumped; each thread compares it when it refills or drains a bin.
void thread_cache_request_drain();
// fork(): the child inherits only the forking thread; caches of the others are flushed there.
void thread_cache_after_fork_child();
SpinLock& thread_cache_registry_lock();

size_t thread_cache_live_count();
// stack_hint of every live cache (see ThreadCache); returns how many there are.
size_t thread_cache_stack_hints(uintptr_t* out, size_t capacity);

// Pool usage as the threads see it, per class, summed over live threads and those that exited.
struct PoolUsage {
  uint64_t allocations[kNumClasses];  // blocks handed out (fast and slow paths)
  int64_t live[kNumClasses];          // blocks with the program now
  uint64_t cached_blocks;             // blocks sitting in thread caches
  uint64_t cached_bytes;
};
// Reads other threads' counters without stopping them: each thread's figures may lag its last
// fast-path operations by at most its cache band (a bin's max: cache_max blocks per class, up to
// cache_cap in bins that grew).
void thread_cache_usage(PoolUsage* usage);
// The running total of live pool bytes that peaks are taken from: each thread adds its change on
// its slow paths (refill, drain, exit), so it lags the truth by at most one cache band per class
// per thread.
int64_t pool_running_bytes();
// Blocks allocated and freed one at a time (exiting threads), accounted globally.
void account_uncached(unsigned cls, int64_t live_delta, uint64_t allocations);

// Sets the thread's allocation fast path: off while it must record each allocation.
void thread_cache_update_fast_bound();
// Whether every allocation is recorded (leak check): set once at start-up.
extern bool g_record_all MEMF_HIDDEN;

}  // namespace memf
