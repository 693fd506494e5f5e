// What MemoryPool and VariablePool share: the registry of live pools (for shrinkAllPools and
// fork), pool ids and the per-thread tables of cache entries indexed by them, and the misuse
// report.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "platform.hpp"

namespace memf {

// Pools that get a per-thread cache entry; pools beyond this work uncached (under their lock).
constexpr uint32_t kMaxCachedPools = 1024;
constexpr uint32_t kNoPoolId = kMaxCachedPools;  // its entry is never filled, so it always misses

// One thread's cache for one pool. What head points at is the pool kind's business: a chain of
// free slots (MemoryPool), a page of per-size-class chains (VariablePool). The owning thread
// writes it, except that destroying or clearing the pool drops every thread's entry for its id
// (neither may overlap other threads' calls on that pool), and usage queries read it from other
// threads. Hence relaxed atomics: plain loads and stores on the fast paths.
struct PoolCacheEntry {
  std::atomic<void*> head;
  std::atomic<uint32_t> count;
  uint32_t home;  // MemoryPool: the thread's home chunk + 1 (under the pool's lock)
};

struct PoolThreadTable {
  PoolThreadTable* prev;
  PoolThreadTable* next;
  PoolCacheEntry entries[kMaxCachedPools + 1];
};

// The calling thread's table; nullptr until its first slow-path call, and after it exited.
extern __thread PoolThreadTable* t_pool_table __attribute__((tls_model("initial-exec")));

// One per live pool, linked into the registry from construction to destruction.
struct PoolNode {
  PoolNode* prev = nullptr;
  PoolNode* next = nullptr;
  size_t (*shrink)(void* self) = nullptr;  // returns the bytes given back
  // At thread exit, with the registry lock held: gives back what the exiting thread's entry for
  // this pool holds and empties the entry. Only called for entries with head or home set.
  void (*flush_thread)(void* self, PoolCacheEntry& entry) = nullptr;
  void* self = nullptr;
  SpinLock* lock = nullptr;  // the pool's lock, taken across fork()
};

// Order: pool_registry_lock() -> a pool's lock -> the tables' lock (internal, a leaf).
SpinLock& pool_registry_lock();

// Links node into the registry and gives it an id (kNoPoolId when all are taken).
uint32_t pool_registry_add(PoolNode* node);
// Unlinks node, frees its id, and calls drop on every thread's entry for that id.
void pool_registry_remove(PoolNode* node, uint32_t id, void (*drop)(PoolCacheEntry& entry));

// The calling thread's entry for pool `id`, creating the thread's table; nullptr for kNoPoolId
// and for a thread that has already run its exit handler.
PoolCacheEntry* pool_thread_entry(uint32_t id);

// With pool_registry_lock() held: calls drop on every thread's entry for `id`.
void pool_drop_entries(uint32_t id, void (*drop)(PoolCacheEntry& entry));

// Calls visit(context, entry) for every thread's entry for `id` (no-op for kNoPoolId), with the
// registry and table locks held: entries and what they point at stay put meanwhile.
void pool_visit_entries(uint32_t id, void (*visit)(void* context, PoolCacheEntry& entry), void* context);

// Writes line[0, length) followed by the MEMF_ON_ERROR suffix as one line on stderr, then aborts
// or returns. line must have room for 48 more bytes.
void pool_report(char* line, size_t length);

// The tracker's tag for a pool's name.
uint8_t pool_category(const char* name);

}  // namespace memf
