// Per-thread caches: one intrusive free list per size class. The fast paths in front.hpp only
// touch the calling thread's cache; everything here is the slow path (refill, drain, thread exit).
#pragma once
#include <cstddef>
#include <cstdint>

#include "platform.hpp"
#include "pool_arena.hpp"
#include "size_classes.hpp"

namespace memf {

struct CacheBin {
  FreeBlock* head;
  uint32_t count;
  uint32_t max;  // a free that makes count exceed max drains one batch to the centre
};

struct ThreadCache {
  CacheBin bins[kNumClasses];
  ThreadCache* registry_next;  // all live caches, for fork and for draining idle caches
  ThreadCache* registry_prev;
  uint64_t owner_thread;       // pthread_self() of the owner
};

enum class ThreadState : uint8_t { kNew = 0, kActive, kDead };

// initial-exec TLS: no allocation and no __tls_get_addr call, usable from the very first malloc.
extern __thread ThreadCache* t_cache MEMF_TLS;
extern __thread ThreadState t_state MEMF_TLS;

// Creates this thread's cache (first allocation in a thread); nullptr if the thread is exiting.
ThreadCache* thread_cache_create();
// Refills the bin of cls and returns one block, or nullptr when the pools are exhausted.
void* thread_cache_refill(ThreadCache* cache, unsigned cls);
// Drains one batch of cls to the centre (the bin went over its max).
void thread_cache_drain(ThreadCache* cache, unsigned cls);
// Returns every cached block to the centre (thread exit, fork child, memory release).
void thread_cache_flush(ThreadCache* cache);
// Flushes this thread's cache now (memf_release_memory); the cache stays usable.
void thread_cache_flush_current();

// Pool access for threads without a cache (exiting threads): one block at a time, under the
// class lock.
void* pool_alloc_uncached(unsigned cls);
void pool_free_uncached(void* block, unsigned cls);

// Installs the thread-exit hook; called once from engine initialisation.
void thread_cache_init();
// fork(): the child inherits only the forking thread; caches of the others are flushed there.
void thread_cache_after_fork_child();
SpinLock& thread_cache_registry_lock();

size_t thread_cache_live_count();

}  // namespace memf
