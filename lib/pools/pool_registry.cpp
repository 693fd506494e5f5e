// The registry of live application pools, their ids, and the per-thread tables of cache entries.
//
// A thread's table is one mapping (not malloc: the pools must work while memf is the process's
// allocator and from any thread) created on the thread's first slow-path call, linked into a
// list so that clearing or destroying a pool can drop every thread's entry for it, and given
// back at thread exit (base/thread_exit.hpp) by flushing each entry to its pool.
#include "pool_registry.hpp"

#include <memf/memory_pool.hpp>

#include "compiler.hpp"
#include "fork.hpp"
#include "os.hpp"
#include "root_sources.hpp"
#include "thread_exit.hpp"
#include "tracker.hpp"

namespace memf {

namespace detail {
__thread PoolThreadTable* t_pool_table MEMF_TLS MEMF_API = nullptr;
}

namespace {

constexpr size_t kTableBytes = (sizeof(PoolThreadTable) + kPageSize - 1) & ~(kPageSize - 1);

// Set once the thread's table has been flushed at thread exit: later calls go uncached.
__thread bool t_exited MEMF_TLS = false;

constinit SpinLock g_registry_lock;
constinit PoolNode* g_slots[kMaxCachedPools] = {};
constinit PoolNode g_pools{};  // sentinel of the live-pool list
constinit SpinLock g_tables_lock;
constinit PoolThreadTable* g_tables = nullptr;
constinit SpinLock g_hooks_lock;
constinit std::atomic<bool> g_hooks_ready{false};

// At thread exit: the thread's cached memory goes back to its pools, then the table is unlinked
// and unmapped. (Entries of destroyed pools were emptied by their destructors.)
void thread_exit() {
  PoolThreadTable* table = t_pool_table;
  t_exited = true;
  if (!table) return;
  t_pool_table = nullptr;
  {
    LockGuard guard(g_registry_lock);
    for (uint32_t id = 0; id < kMaxCachedPools; ++id) {
      PoolCacheEntry& entry = table->entries[id];
      if ((entry.head.load(std::memory_order_relaxed) || entry.home != 0) && g_slots[id])
        g_slots[id]->flush_thread(g_slots[id]->self, entry);
    }
  }
  {
    LockGuard guard(g_tables_lock);
    if (table->prev) table->prev->next = table->next;
    else g_tables = table->next;
    if (table->next) table->next->prev = table->prev;
  }
  os::unmap(table, kTableBytes);
}

// fork(): the parent holds every pool lock across it so the child never inherits one held.
void fork_prepare() {
  g_registry_lock.lock();
  for (PoolNode* node = g_pools.next; node && node != &g_pools; node = node->next) node->lock->lock();
  g_tables_lock.lock();
}
void fork_parent() {
  g_tables_lock.unlock();
  for (PoolNode* node = g_pools.next; node && node != &g_pools; node = node->next) node->lock->unlock();
  g_registry_lock.unlock();
}
void fork_child() {
  g_tables_lock.reset_after_fork();
  for (PoolNode* node = g_pools.next; node && node != &g_pools; node = node->next) node->lock->reset_after_fork();
  g_registry_lock.reset_after_fork();
}

// The leak scan's roots: every live pool's used range. Objects in a pool are the program's data,
// and a heap block only they point to is in use. Free slots are read too (their stale contents
// may keep a lost block reachable: conservative, as reading any root is).
size_t list_pool_ranges(AddressRange* out, size_t capacity) {
  size_t n = 0;
  LockGuard guard(g_registry_lock);
  for (PoolNode* node = g_pools.next; node && node != &g_pools; node = node->next) {
    if (!node->used_range) continue;
    AddressRange range;
    {
      LockGuard pool(*node->lock);
      range = node->used_range(node->self);
    }
    if (range.end > range.begin && n < capacity) out[n] = range;
    if (range.end > range.begin) ++n;
  }
  return n;
}

void install_hooks_once() {
  if (g_hooks_ready.load(std::memory_order_acquire)) return;
  LockGuard guard(g_hooks_lock);
  if (g_hooks_ready.load(std::memory_order_relaxed)) return;
  thread_exit_register(kThreadExitPools, thread_exit);
  fork_register(kForkPools, {fork_prepare, fork_parent, fork_child});
  register_root_lister(list_pool_ranges);
  g_hooks_ready.store(true, std::memory_order_release);
}

PoolThreadTable* create_table() {
  if (t_exited) return nullptr;
  // Zeroed: every entry empty, kNoPoolId's too, which nothing ever fills.
  auto* table = static_cast<PoolThreadTable*>(os::map(kTableBytes));
  if (!table) return nullptr;
  thread_exit_arm();
  {
    LockGuard guard(g_tables_lock);
    table->next = g_tables;
    if (g_tables) g_tables->prev = table;
    g_tables = table;
  }
  t_pool_table = table;
  return table;
}

}  // namespace

SpinLock& pool_registry_lock() { return g_registry_lock; }

uint32_t pool_registry_add(PoolNode* node) {
  install_hooks_once();
  LockGuard guard(g_registry_lock);
  if (!g_pools.next) g_pools.next = g_pools.prev = &g_pools;
  node->next = g_pools.next;
  node->prev = &g_pools;
  g_pools.next->prev = node;
  g_pools.next = node;
  for (uint32_t id = 0; id < kMaxCachedPools; ++id)
    if (!g_slots[id]) {
      g_slots[id] = node;
      return id;
    }
  return kNoPoolId;
}

void pool_registry_remove(PoolNode* node, uint32_t id, void (*drop)(PoolCacheEntry& entry)) {
  LockGuard guard(g_registry_lock);
  node->prev->next = node->next;
  node->next->prev = node->prev;
  if (id == kNoPoolId) return;
  g_slots[id] = nullptr;
  pool_drop_entries(id, drop);  // the id may be reused: no thread may keep anything of this pool
}

PoolCacheEntry* pool_thread_entry(uint32_t id) {
  if (id == kNoPoolId) return nullptr;
  PoolThreadTable* table = t_pool_table ? t_pool_table : create_table();
  return table ? &table->entries[id] : nullptr;
}

void pool_drop_entries(uint32_t id, void (*drop)(PoolCacheEntry& entry)) {
  if (id == kNoPoolId) return;
  LockGuard guard(g_tables_lock);
  for (PoolThreadTable* table = g_tables; table; table = table->next) drop(table->entries[id]);
}

void pool_visit_entries(uint32_t id, void (*visit)(void* context, PoolCacheEntry& entry), void* context) {
  if (id == kNoPoolId) return;
  LockGuard registry(g_registry_lock);
  LockGuard guard(g_tables_lock);
  for (PoolThreadTable* table = g_tables; table; table = table->next) visit(context, table->entries[id]);
}

uint8_t pool_category(const char* name) { return category_intern(name); }

size_t shrinkAllPools() {
  size_t bytes = 0;
  LockGuard guard(g_registry_lock);
  for (PoolNode* node = g_pools.next; node && node != &g_pools; node = node->next) bytes += node->shrink(node->self);
  return bytes;
}

}  // namespace memf

