#include "thread_cache.hpp"

#include <pthread.h>

#include <cstring>

#include "central.hpp"

namespace memf {

__thread ThreadCache* t_cache MEMF_TLS = nullptr;
__thread ThreadState t_state MEMF_TLS = ThreadState::kNew;

namespace {

constinit SpinLock g_registry_lock;
ThreadCache* g_registry = nullptr;  // live caches
ThreadCache* g_recycled = nullptr;  // caches of exited threads, linked by registry_next
size_t g_live_caches = 0;
pthread_key_t g_exit_key;
bool g_exit_key_ready = false;

void registry_unlink(ThreadCache* cache) {
  if (cache->registry_prev) cache->registry_prev->registry_next = cache->registry_next;
  else g_registry = cache->registry_next;
  if (cache->registry_next) cache->registry_next->registry_prev = cache->registry_prev;
  --g_live_caches;
}

void reset_bins(ThreadCache* cache) {
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    cache->bins[cls].head = nullptr;
    cache->bins[cls].count = 0;
    cache->bins[cls].max = kSizeClasses[cls].cache_max;
  }
}

// Runs at thread exit (pthread key destructor). Later allocations of this thread go uncached.
void on_thread_exit(void* value) {
  ThreadCache* cache = static_cast<ThreadCache*>(value);
  if (!cache) return;
  t_state = ThreadState::kDead;
  t_cache = nullptr;
  thread_cache_flush(cache);
  LockGuard guard(g_registry_lock);
  registry_unlink(cache);
  cache->registry_next = g_recycled;
  g_recycled = cache;
}

// Gives a chain of `count` blocks of cls back: whole batches to the transfer stack while it has
// room, the rest to the slabs.
void give_back(unsigned cls, FreeBlock* chain, unsigned count) {
  const unsigned batch = kSizeClasses[cls].batch;
  while (count >= batch) {
    FreeBlock* last = chain;
    for (unsigned i = 1; i < batch; ++i) last = last->next;
    FreeBlock* rest = last->next;
    last->next = nullptr;
    if (!central_push_batch(cls, chain)) {
      last->next = rest;
      break;
    }
    chain = rest;
    count -= batch;
  }
  if (count) central_return(cls, chain, count);
}

}  // namespace

void thread_cache_init() {
  if (!g_exit_key_ready && pthread_key_create(&g_exit_key, on_thread_exit) == 0) g_exit_key_ready = true;
}

ThreadCache* thread_cache_create() {
  if (t_state == ThreadState::kDead) return nullptr;
  ThreadCache* cache = nullptr;
  {
    LockGuard guard(g_registry_lock);
    if (g_recycled) {
      cache = g_recycled;
      g_recycled = cache->registry_next;
    }
  }
  if (!cache) cache = static_cast<ThreadCache*>(internal_alloc(sizeof(ThreadCache)));
  if (!cache) return nullptr;
  reset_bins(cache);
  cache->owner_thread = uint64_t(pthread_self());
  {
    LockGuard guard(g_registry_lock);
    cache->registry_prev = nullptr;
    cache->registry_next = g_registry;
    if (g_registry) g_registry->registry_prev = cache;
    g_registry = cache;
    ++g_live_caches;
  }
  t_cache = cache;
  t_state = ThreadState::kActive;
  // Keys below PTHREAD_KEY_2NDLEVEL_SIZE live in the thread descriptor: this does not allocate.
  if (g_exit_key_ready) pthread_setspecific(g_exit_key, cache);
  return cache;
}

void* thread_cache_refill(ThreadCache* cache, unsigned cls) {
  CacheBin& bin = cache->bins[cls];
  FreeBlock* chain = central_pop_batch(cls);
  unsigned count = kSizeClasses[cls].batch;
  if (!chain) {
    count = central_take(cls, kSizeClasses[cls].batch, &chain);
    if (count == 0) return nullptr;
  }
  bin.head = chain->next;
  bin.count = count - 1;
  return chain;
}

void thread_cache_drain(ThreadCache* cache, unsigned cls) {
  CacheBin& bin = cache->bins[cls];
  const unsigned batch = kSizeClasses[cls].batch;
  FreeBlock* first = bin.head;
  FreeBlock* last = first;
  for (unsigned i = 1; i < batch; ++i) last = last->next;
  bin.head = last->next;
  bin.count -= batch;
  last->next = nullptr;
  give_back(cls, first, batch);
}

void thread_cache_flush(ThreadCache* cache) {
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    CacheBin& bin = cache->bins[cls];
    if (bin.count) give_back(cls, bin.head, bin.count);
    bin.head = nullptr;
    bin.count = 0;
  }
}

void thread_cache_flush_current() {
  if (t_cache) thread_cache_flush(t_cache);
}

void* pool_alloc_uncached(unsigned cls) {
  FreeBlock* block = nullptr;
  return central_take(cls, 1, &block) ? block : nullptr;
}

void pool_free_uncached(void* block, unsigned cls) {
  FreeBlock* single = static_cast<FreeBlock*>(block);
  single->next = nullptr;
  central_return(cls, single, 1);
}

void thread_cache_after_fork_child() {
  // Only the forking thread exists in the child: the other caches have no owner any more.
  ThreadCache* orphans = nullptr;
  for (ThreadCache* cache = g_registry; cache;) {
    ThreadCache* next = cache->registry_next;
    if (cache != t_cache) {
      registry_unlink(cache);
      cache->registry_next = orphans;
      orphans = cache;
    }
    cache = next;
  }
  while (orphans) {
    ThreadCache* cache = orphans;
    orphans = cache->registry_next;
    thread_cache_flush(cache);
    cache->registry_next = g_recycled;
    g_recycled = cache;
  }
}

SpinLock& thread_cache_registry_lock() { return g_registry_lock; }

size_t thread_cache_live_count() {
  LockGuard guard(g_registry_lock);
  return g_live_caches;
}

}  // namespace memf
