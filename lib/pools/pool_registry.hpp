// What MemoryPool and VariablePool share beyond the pool core (core/): the registry of live
// pools (for shrinkAllPools and fork), pool ids and the per-thread tables of cache entries
// indexed by them.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include <memf/memory_pool.hpp>

#include "address_range.hpp"
#include "spin_lock.hpp"

namespace memf {

// The per-thread tables are declared in the public header: MemoryPool's inline paths read them.
using detail::kMaxCachedPools;
using detail::kNoPoolId;
using detail::PoolCacheEntry;
using detail::PoolThreadTable;
using detail::t_pool_table;

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
  // With the pool's lock held: the part of its range ever handed out (a leak scan's root).
  AddressRange (*used_range)(void* self) = nullptr;
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

// The tracker's tag for a pool's name.
uint8_t pool_category(const char* name);

}  // namespace memf
