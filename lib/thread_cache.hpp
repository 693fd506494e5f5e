// Per-thread caches: one intrusive free list per size class, living in initial-exec TLS itself,
// so the fast paths in engine.hpp reach a bin with one %fs-relative access and no pointer to
// check. Everything here is the slow path (set-up, refill, drain, thread exit).
#pragma once
#include <cstddef>
#include <cstdint>

#include "platform.hpp"
#include "pool_arena.hpp"
#include "size_classes.hpp"

namespace memf {

// room counts down to the next drain: a free that takes it below zero (the bin then holds
// max + 1 blocks) drains a batch. A zero-initialised bin (new thread) has no blocks and no room,
// so both fast paths fall to the slow path, which sets the thread up.
struct CacheBin {
  FreeBlock* head;
  int32_t room;  // max - (blocks in the bin)
  int32_t max;
  uint32_t count() const { return uint32_t(max - room); }
};

enum class ThreadState : uint8_t { kNew = 0, kActive, kDead };

struct ThreadCache {
  CacheBin bins[kNumClasses];
  ThreadCache* registry_next;  // live caches, for fork, statistics and releasing memory
  ThreadCache* registry_prev;
  ThreadState state;
};

// Zero-initialised (.tbss): no allocation, usable from the very first malloc of every thread.
extern __thread ThreadCache t_cache MEMF_TLS MEMF_HIDDEN;

// Sets up this thread's cache (its first allocation); false once the thread is exiting.
bool thread_cache_activate();
// Refills the bin of cls and returns one block, or nullptr when the pools are exhausted.
void* thread_cache_refill(unsigned cls);
// A free found the bin of cls full (room was 0, the block is already pushed): drains a batch,
// or sets the thread up, or (exiting thread) hands the block back to its slab.
void thread_cache_overflow(unsigned cls);
// Returns every block cached by this thread to the centre (memf_release_memory); stays usable.
void thread_cache_flush_current();

// Pool access for threads whose cache is gone (exiting threads): one block at a time, under the
// class lock.
void* pool_alloc_uncached(unsigned cls);
void pool_free_uncached(void* block, unsigned cls);

// Installs the thread-exit hook; called once from engine initialisation.
void thread_cache_init();
// fork(): the child inherits only the forking thread; caches of the others are flushed there.
void thread_cache_after_fork_child();
SpinLock& thread_cache_registry_lock();

size_t thread_cache_live_count();
// Blocks and bytes sitting in all live threads' caches (read without stopping them: approximate).
void thread_cache_totals(size_t* blocks, size_t* bytes);

}  // namespace memf
