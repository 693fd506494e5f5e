// memf::MemoryPool: fixed-size slots in a range reserved for the pool, per-slot state bytes kept
// apart from the slots, per-thread caches exchanging batches with the pool under its own lock.
//
// Caches. Each thread's cache for the pool is an array of free slots at the end of a page, its
// top in the thread's table entry, popped and pushed by allocate() and deallocate() inline in the
// header: no call, and no linked list to chase (the next slot's address does not depend on a
// load from the last one). Caches exchange batches of `batch` slots with the pool under its lock,
// as arrays of pointers: parked batches are arrays too (the pool core's batch shelf), so handing
// a batch from one thread to another touches no slot (a chain would be walked slot by slot, each
// a cache miss on the other thread's lines).
//
// Layout (the pool core's reservation, core/pool_range.hpp). Each pool reserves (MAP_NORESERVE:
// address space only) one range for its slots, cut into chunks of chunk_bytes (a power of two),
// and two more for its metadata: one state byte per granule (8 or 16 bytes) of the range, and one
// ChunkMeta (the core's slab record) per chunk. "Is p ours" is one compare,
// the chunk is offset >> chunk_shift and the state is states[offset >> granule_shift]: only the
// granule where a carved slot starts is ever non-zero, so interior and misaligned pointers never
// match. Nothing is stored in user memory except, in a free slot, its free mark (second word)
// and, on its chunk's free list, its link (first word); slots are at least 16 bytes.
//
// Because the range stays mapped until the pool is destroyed (shrink and clear only purge
// pages), a stale cached pointer can always be read safely: purged pages read as zero.
#include <memf/memory_pool.hpp>


#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "batch_shelf.hpp"
#include "compiler.hpp"
#include "config.hpp"
#include "free_mark.hpp"
#include "misuse.hpp"
#include "os.hpp"
#include "pool_range.hpp"
#include "pool_registry.hpp"
#include "slab_list.hpp"
#include "spin_lock.hpp"
#include "tracker.hpp"

namespace memf {
namespace {

// A slot's state byte: kCarved once the slot has been carved since its chunk was taken, else 0.
// Whether a carved slot is free is its free mark (core/free_mark.hpp).
constexpr uint8_t kCarved = 1;
constexpr size_t kMaxChunkBytes = size_t(256) << 10;
// Slots per exchange between a thread's cache and the pool: a cache (two batches) and the null
// word below it fit a page.
constexpr uint32_t kMaxBatch = 255;
constexpr size_t kCachePage = detail::kCachePageBytes;
static_assert((2 * kMaxBatch + 1) * sizeof(void*) <= kCachePage);

// A free slot is the core's FreeBlock: its link on its chunk's free list, then its free mark.
// As in the engine, the mark in the slot's own line tells free from live, so the fast paths read
// state bytes and never write them: threads passing objects between them do not write the same
// state lines.
using FreeSlot = FreeBlock;

// Where a chunk is (its SlabRecord::list): on no list (every slot carved and out), partial (it
// can give slots), empty (nothing out), released (its pages given back).
enum ChunkList : uint8_t { kListNone = 0, kListPartial, kListEmpty, kListReleased };

// The core's slab record (free list, slots out, slots carved, list links), and whether the chunk
// is some thread's home chunk (below): other threads take from it only as a last resort.
struct ChunkMeta : SlabRecord {
  bool claimed;
};

}  // namespace

struct alignas(64) MemoryPool::Impl {
  // Read by every call; written by the constructor and clear() only.
  char* base;
  uint8_t* states;
  size_t range_bytes;
  size_t range_granules;
  unsigned granule_shift;
  unsigned chunk_shift;
  uint32_t id;
  uintptr_t free_key;  // a free slot's mark is free_key ^ its address
  uint32_t batch;      // slots per exchange with the pool
  uint32_t cache_max;  // slots a thread keeps for this pool (two batches)
  size_t object_size;
  size_t stride;
  size_t chunk_bytes;
  size_t slots_per_chunk;
  size_t max_chunks;
  size_t held_chunk_bytes;  // a chunk's slots plus its state bytes, as accounted
  ChunkMeta* chunks;
  PoolReservation reservation;  // the range, the state bytes and the chunk records
  uint8_t tag;
  char name[kMaxCategoryName + 1];
  PoolNode node;

  // The shared part, under lock.
  alignas(64) SpinLock lock;
  SlabList<ChunkMeta> partial{kListPartial};
  SlabList<ChunkMeta> empty{kListEmpty};
  SlabList<ChunkMeta> released{kListReleased};
  size_t top = 0;  // chunks [0, top) have been used at least once
  std::atomic<size_t> held{0};  // chunks holding memory (not released)
  std::atomic<size_t> out{0};   // slots out of chunks: with the program or in thread caches
  std::atomic<size_t> last_released{0};
  // A free slot found written over while the lock was held, reported once it is released.
  std::atomic<const void*> corrupt_slot{nullptr};
  // Whole batches parked between a drain and a refill (of any threads), so that steady traffic
  // never walks the chunks' lists slot by slot; its count is read by getUsedCount.
  BatchShelf shelf;
  std::unique_ptr<void*[]> shelf_storage;  // kShelfBatches batches of exactly `batch` slots
};

namespace {

using Pool = MemoryPool::Impl;

void account(Pool& pool, size_t chunks, bool is_allocation) {
  if (chunks) external_account(pool.tag, int64_t(chunks * pool.held_chunk_bytes), is_allocation);
}

char* chunk_base(Pool& pool, uint32_t c) { return pool.base + (size_t(c) << pool.chunk_shift); }

// --- chunk lists (under pool.lock) -------------------------------------------------------------

SlabList<ChunkMeta>& list_of(Pool& pool, uint8_t list) {
  return list == kListPartial ? pool.partial : list == kListEmpty ? pool.empty : pool.released;
}

void unlink_chunk(Pool& pool, uint32_t c) {
  const uint8_t list = pool.chunks[c].list;
  if (list != kListNone) list_of(pool, list).remove(pool.chunks, c, kListNone);
}

void link_chunk(Pool& pool, uint32_t c, uint8_t list) {
  if (list != kListNone) list_of(pool, list).push_front(pool.chunks, c);
  else pool.chunks[c].list = kListNone;
}

// Where a held chunk belongs: empty when nothing is out, partial when it can still give slots.
void relist(Pool& pool, uint32_t c) {
  ChunkMeta& m = pool.chunks[c];
  const uint8_t list = m.used == 0 ? kListEmpty
                       : (m.free || m.carved < pool.slots_per_chunk) ? kListPartial
                                                                     : kListNone;
  if (list == m.list) return;
  unlink_chunk(pool, c);
  link_chunk(pool, c, list);
}

uint32_t first_unclaimed(Pool& pool, uint32_t c) {
  while (c != kNoSlab && pool.chunks[c].claimed) c = pool.chunks[c].next;
  return c;
}

// A chunk that can give slots: partial first (keeps empty chunks empty for shrink), then empty
// (most recently emptied: its pages are resident), then a released one, then a fresh one; other
// threads' home chunks (at most one per thread) only when nothing else is left.
uint32_t chunk_to_take(Pool& pool) {
  uint32_t c = first_unclaimed(pool, pool.partial.head());
  if (c == kNoSlab) c = first_unclaimed(pool, pool.empty.head());
  if (c != kNoSlab) return c;
  c = pool.released.head();
  if (c == kNoSlab) {
    if (pool.top == pool.max_chunks) return !pool.partial.empty() ? pool.partial.head() : pool.empty.head();
    c = uint32_t(pool.top++);
    pool.chunks[c] = ChunkMeta{{nullptr, 0, 0, kNoSlab, kNoSlab, kListNone}, false};
  } else {
    unlink_chunk(pool, c);
    pool.chunks[c].claimed = false;
  }
  link_chunk(pool, c, kListEmpty);
  pool.held.fetch_add(1, std::memory_order_relaxed);
  account(pool, 1, true);
  return c;
}

bool chunk_can_give(Pool& pool, uint32_t c) {
  if (c >= pool.top) return false;
  const ChunkMeta& m = pool.chunks[c];
  return m.list != kListReleased && (m.free || m.carved < pool.slots_per_chunk);
}

// A thread's home chunk (entry.home, chunk index + 1, 0 for none; under the pool's lock) is the
// chunk its refills take slots from while it can give them. Threads that work in separate
// chunks never write neighbouring cache lines: two threads sweeping batches carved side by side
// in one chunk ran at 2.5 ns per pair instead of 1.6 (tools/bench/pool_bench, batch pattern).
//
// Under pool.lock: the entry's thread gives up its home chunk.
void unclaim_home(Pool& pool, PoolCacheEntry& entry) {
  if (entry.home != 0 && entry.home - 1 < pool.top) pool.chunks[entry.home - 1].claimed = false;
  entry.home = 0;
}

// Under pool.lock: takes up to n slots into out[], the first taken last (on top of a cache:
// handed out first, so that fresh slots go out in address order); their number (fewer only when
// the range is exhausted). With an entry: from its thread's home chunk while that can give,
// else from a chunk it then claims.
size_t take_slots(Pool& pool, size_t n, void** out, PoolCacheEntry* entry) {
  size_t got = 0;
  while (got < n) {
    uint32_t c = kNoSlab;
    if (entry && entry->home != 0) {
      if (chunk_can_give(pool, entry->home - 1)) c = entry->home - 1;
      else unclaim_home(pool, *entry);
    }
    if (c == kNoSlab) {
      c = chunk_to_take(pool);
      if (c == kNoSlab) break;
      if (entry) {
        pool.chunks[c].claimed = true;
        entry->home = c + 1;
      }
    }
    ChunkMeta& m = pool.chunks[c];
    const size_t before = got;
    while (got < n && m.free) {
      FreeSlot* slot = m.free;
      if (!follow_link(pool.free_key, slot, &m.free)) {
        drop_free_list(m, uint32_t(got - before));
        pool.corrupt_slot.store(slot, std::memory_order_relaxed);  // reported once the lock is released
        break;
      }
      out[got++] = slot;
    }
    while (got < n && m.carved < pool.slots_per_chunk) {
      auto* slot = reinterpret_cast<FreeSlot*>(chunk_base(pool, c) + size_t(m.carved++) * pool.stride);
      pool.states[size_t(reinterpret_cast<char*>(slot) - pool.base) >> pool.granule_shift] = kCarved;
      mark_block_free(pool.free_key, slot);
      out[got++] = slot;
    }
    m.used += uint32_t(got - before);
    relist(pool, c);
  }
  std::reverse(out, out + got);  // the first taken on top: handed out first
  pool.out.fetch_add(got, std::memory_order_relaxed);
  return got;
}

void give_slot(Pool& pool, void* p) {
  const uint32_t c = uint32_t(size_t(static_cast<char*>(p) - pool.base) >> pool.chunk_shift);
  ChunkMeta& m = pool.chunks[c];
  auto* slot = static_cast<FreeSlot*>(p);
  make_free(pool.free_key, slot, m.free);
  m.free = slot;
  --m.used;
  relist(pool, c);
  pool.out.fetch_sub(1, std::memory_order_relaxed);
}

// Under pool.lock: one batch for a thread's cache into out[] (room for `batch`): a parked batch,
// else slots from the chunks (the entry's home chunk first). Their number; 0 when the range is
// exhausted.
size_t take_batch(Pool& pool, void** out, PoolCacheEntry* entry) {
  if (pool.shelf.pop(pool.shelf_storage.get(), out)) return pool.batch;
  return take_slots(pool, pool.batch, out, entry);
}

// Under pool.lock: exactly `batch` slots from a thread's cache, parked for the next refill, or
// given back to their chunks when the parking is full.
void put_batch(Pool& pool, void* const* in) {
  if (pool.shelf.push(pool.shelf_storage.get(), in)) return;
  for (uint32_t i = 0; i < pool.batch; ++i) give_slot(pool, in[i]);
}

// --- caches -----------------------------------------------------------------------------------
//
// A thread's cache is its table entry for the pool: its head is the top of an array of free slots
// [bottom, top) that ends where its page ends, written only by that thread; bottom is cache_max
// slots below the page's end, and the word below bottom stays null (an empty cache reads it).

// The calling thread's table entry for the pool, created on first use; nullptr for pools beyond
// the table and for exiting threads.
inline PoolCacheEntry* thread_entry(Pool& pool) {
  if (PoolThreadTable* table = t_pool_table; MEMF_LIKELY(table != nullptr && pool.id != kNoPoolId))
    return &table->entries[pool.id];
  return pool_thread_entry(pool.id);
}

// The page of a cache's top (which may be the page's end, for a full cache).
uintptr_t cache_page(void** top) { return (uintptr_t(top) - 1) & ~(kCachePage - 1); }
void** cache_bottom(const Pool& pool, void** top) {
  return reinterpret_cast<void**>(cache_page(top) + kCachePage) - pool.cache_max;
}
void** cache_top(const PoolCacheEntry& entry) { return static_cast<void**>(entry.head.load(std::memory_order_relaxed)); }
size_t cache_count(const Pool& pool, const PoolCacheEntry& entry) {
  void** top = cache_top(entry);
  return top ? size_t(top - cache_bottom(pool, top)) : 0;
}

// The entry's cache top, its page mapped on first use; nullptr when no page could be mapped.
void** entry_cache(Pool& pool, PoolCacheEntry& entry) {
  void** top = cache_top(entry);
  if (MEMF_UNLIKELY(top == nullptr)) {
    if (void* page = os::map(kCachePage)) {  // zeroed: the word below bottom is null
      top = reinterpret_cast<void**>(static_cast<char*>(page) + kCachePage) - pool.cache_max;
      entry.head.store(top, std::memory_order_relaxed);
    }
  }
  return top;
}

// Every slot of the entry's cache goes back to the chunks, and its home chunk is given up.
void flush_entry(Pool& pool, PoolCacheEntry& entry) {
  void** top = cache_top(entry);
  LockGuard guard(pool.lock);
  if (top) {
    void** bottom = cache_bottom(pool, top);
    for (void** slot = bottom; slot < top; ++slot) give_slot(pool, *slot);
    entry.head.store(bottom, std::memory_order_relaxed);
  }
  unclaim_home(pool, entry);
}

// An entry dropped unread (its thread is gone, or the pool is going away or starting over and
// its chunks with it).
void drop_entry(PoolCacheEntry& entry) {
  if (void** top = cache_top(entry)) os::unmap(reinterpret_cast<void*>(cache_page(top)), kCachePage);
  entry.head.store(nullptr, std::memory_order_relaxed);
  entry.home = 0;
}

// At thread exit, on the exiting thread.
void flush_thread(void* self, PoolCacheEntry& entry) {
  flush_entry(*static_cast<Pool*>(self), entry);
  drop_entry(entry);
}

// --- misuse ----------------------------------------------------------------------------------

// A corrupted chunk free list found by take_slots (which dropped it), reported now that the
// caller holds no lock.
void report_corrupt_slot(Pool& pool) {
  const void* slot = pool.corrupt_slot.exchange(nullptr, std::memory_order_relaxed);
  if (!slot) return;
  char block[kMaxCategoryName + 64];
  misuse_text(block, "MemoryPool \"{}\", object size {} B", pool.name, pool.object_size);
  report_misuse(MisuseReport{Misuse::kCorruptFreeList, "memf::MemoryPool::allocate", slot, nullptr, 0, block, "object",
                             nullptr});
}

MEMF_NOINLINE void report_pool_misuse(Pool& pool, void* ptr) {
  const size_t offset = uintptr_t(ptr) - uintptr_t(pool.base);
  char owner[kMaxCategoryName + 96], block[kMaxCategoryName + 64];
  misuse_text(block, "MemoryPool \"{}\", object size {} B", pool.name, pool.object_size);
  MisuseReport report{Misuse::kDoubleFree, "memf::MemoryPool::deallocate", ptr, nullptr, 0, block, "object", owner};
  {
    LockGuard guard(pool.lock);
    const size_t c = offset >> pool.chunk_shift;
    const size_t in_chunk = offset & (pool.chunk_bytes - 1);
    const size_t slot = in_chunk / pool.stride;
    if (offset >= pool.range_bytes) {
      report.kind = Misuse::kForeign;
      misuse_text(owner, "MemoryPool \"{}\"", pool.name);
    } else if (c >= pool.top || pool.chunks[c].list == kListReleased || slot >= pool.chunks[c].carved) {
      report.kind = Misuse::kNotLive;
      misuse_text(owner, "MemoryPool \"{}\" (never handed out, or released by clear() or shrink())", pool.name);
    } else if (in_chunk != slot * pool.stride) {
      report.kind = Misuse::kInterior;
      report.block_start = chunk_base(pool, uint32_t(c)) + slot * pool.stride;
    }
  }
  report_misuse(report);
}

// Under pool.lock: parked batches go back to their chunks (before shrinking).
void unpark_all(Pool& pool) {
  const size_t parked = size_t(pool.shelf.count()) * pool.batch;
  for (size_t i = 0; i < parked; ++i) give_slot(pool, pool.shelf_storage[i]);
  pool.shelf.clear();
}

size_t shrink_pool(Pool& pool) {
  if (PoolThreadTable* table = t_pool_table; table && pool.id != kNoPoolId) flush_entry(pool, table->entries[pool.id]);
  size_t released = 0;
  {
    LockGuard guard(pool.lock);
    unpark_all(pool);
    while (!pool.empty.empty()) {
      const uint32_t c = pool.empty.pop_front(pool.chunks, kListNone);
      // Purged under the lock: a released chunk must not be taken again before its pages go.
      os::purge(chunk_base(pool, c), pool.chunk_bytes);
      // Its slots are no longer carved: a stale pointer into it must not pass for a live slot.
      const size_t state_bytes = pool.chunk_bytes >> pool.granule_shift;
      uint8_t* states = pool.states + (size_t(c) << pool.chunk_shift >> pool.granule_shift);
      if (state_bytes % kPageSize == 0) os::purge(states, state_bytes);
      else memset(states, 0, state_bytes);
      ChunkMeta& m = pool.chunks[c];
      m.free = nullptr;
      m.carved = 0;
      link_chunk(pool, c, kListReleased);
      ++released;
    }
    pool.held.fetch_sub(released, std::memory_order_relaxed);
    account(pool, released, false);
  }
  const size_t bytes = released * pool.held_chunk_bytes;
  pool.last_released.store(bytes, std::memory_order_relaxed);
  return bytes;
}

size_t shrink_node(void* self) { return shrink_pool(*static_cast<Pool*>(self)); }

size_t next_pow2(size_t n) { return n <= 1 ? 1 : size_t(1) << (64 - __builtin_clzll(n - 1)); }

}  // namespace

// --- MemoryPool ------------------------------------------------------------------------------------

MemoryPool::MemoryPool(size_t objectSize, size_t initialCapacity)
    : MemoryPool(objectSize, initialCapacity, nullptr) {}

MemoryPool::MemoryPool(size_t objectSize, size_t initialCapacity, const char* name) : impl_(new Impl()) {
  load_config();  // MEMF_ON_ERROR applies even when memf is not the process's allocator
  std::unique_ptr<Impl> owner(impl_);
  Impl& pool = *impl_;
  pool.object_size = objectSize;
  // At least 16 bytes: a free slot holds its link and its free mark.
  pool.stride = round_up(std::max<size_t>(objectSize, 16), 8);
  if (pool.stride < objectSize) throw std::bad_alloc();  // overflow
  pool.granule_shift = pool.stride % 16 == 0 ? 4 : 3;
  const size_t wanted = initialCapacity > (size_t(1) << 40) / pool.stride ? size_t(1) << 40 : initialCapacity * pool.stride;
  size_t chunk = next_pow2(std::max({wanted, kPageSize, pool.stride}));
  if (chunk > kMaxChunkBytes) chunk = std::max(kMaxChunkBytes, next_pow2(pool.stride));
  pool.chunk_bytes = chunk;
  pool.chunk_shift = unsigned(__builtin_ctzll(chunk));
  pool.slots_per_chunk = chunk / pool.stride;
  pool.held_chunk_bytes = chunk + (chunk >> pool.granule_shift);
  // Room for at least 64M objects (within 1..16 GiB of address space), less if refused.
  const size_t range = std::max(std::clamp<size_t>(next_pow2(pool.stride) << 26, size_t(1) << 30, size_t(16) << 30), chunk * 64);
  const PoolShape shape{range, chunk * 4, 1, pool.chunk_shift, pool.granule_shift, sizeof(ChunkMeta)};
  if (!reserve_pool_range(shape, &pool.reservation)) throw std::bad_alloc();
  pool.base = pool.reservation.base;
  pool.range_bytes = pool.reservation.bytes;
  pool.free_key = free_key_for(uintptr_t(pool.base));
  pool.range_granules = pool.range_bytes >> pool.granule_shift;
  pool.max_chunks = std::min<size_t>(pool.reservation.slabs, kNoSlab - 1);
  pool.states = pool.reservation.states;
  pool.chunks = static_cast<ChunkMeta*>(pool.reservation.records);
  // About 16 KiB per exchange, 1..256 slots; a thread keeps at most two batches (32 KiB), so
  // the lock and the batch's cache lines move between threads once per 16 KiB of traffic.
  pool.batch = blocks_per_batch(pool.stride, size_t(16) << 10, 1, kMaxBatch);
  pool.cache_max = pool.batch * 2;
  if (name && *name) fmt::format_to_n(pool.name, kMaxCategoryName, "{}", name);
  else fmt::format_to_n(pool.name, kMaxCategoryName, "MemoryPool({})", objectSize);
  pool.tag = pool_category(pool.name);
  pool.node.shrink = shrink_node;
  pool.node.self = &pool;
  pool.node.lock = &pool.lock;
  pool.node.flush_thread = flush_thread;
  pool.node.used_range = [](void* self) {
    const Pool& p = *static_cast<const Pool*>(self);
    return AddressRange{uintptr_t(p.base), uintptr_t(p.base) + (uintptr_t(p.top) << p.chunk_shift)};
  };
  pool.shelf.set_shape(pool.batch, kShelfBatches);
  pool.shelf_storage = std::make_unique<void*[]>(size_t(kShelfBatches) * pool.batch);
  pool.id = pool_registry_add(&pool.node);
  owner.release();
  base_ = pool.base;
  states_ = pool.states;
  range_granules_ = pool.range_granules;
  free_key_ = pool.free_key;
  id_ = pool.id;
  granule_shift_ = uint8_t(pool.granule_shift);
  // The initial capacity: chunks held from the start (their pages are touched only when used).
  LockGuard guard(pool.lock);
  const size_t initial_chunks = (initialCapacity + pool.slots_per_chunk - 1) / pool.slots_per_chunk;
  for (size_t i = 0; i < initial_chunks && i < pool.max_chunks; ++i) chunk_to_take(pool);
}

MemoryPool::~MemoryPool() {
  Impl& pool = *impl_;
  pool_registry_remove(&pool.node, pool.id, drop_entry);
  account(pool, pool.held.load(std::memory_order_relaxed), false);
  release_pool_range(pool.reservation);
  delete impl_;
}

// The inline allocate() and deallocate() (the header) handle a cache with slots, or with room;
// everything else comes here.
void* MemoryPool::allocateSlow() {
  Impl& pool = *impl_;
  PoolCacheEntry* entry = thread_entry(pool);
  void* p;
  if (void** top = entry ? entry_cache(pool, *entry) : nullptr) {
    void** bottom = cache_bottom(pool, top);
    if (top == bottom) {  // empty: one batch, from the thread's home chunk first
      size_t got;
      {
        LockGuard guard(pool.lock);
        got = take_batch(pool, bottom, entry);
      }
      report_corrupt_slot(pool);
      if (got == 0) throw std::bad_alloc();
      top = bottom + got;
    }
    p = *--top;
    entry->head.store(top, std::memory_order_relaxed);
  } else {  // uncached: a pool beyond the table, or a thread that has run its exit hook
    size_t got;
    {
      LockGuard guard(pool.lock);
      got = take_slots(pool, 1, &p, nullptr);
    }
    report_corrupt_slot(pool);
    if (got == 0) throw std::bad_alloc();
  }
  mark_block_live(p);
  return p;
}

void MemoryPool::deallocateSlow(void* ptr) {
  Impl& pool = *impl_;
  if (!isLiveSlot(ptr)) {
    if (ptr) report_pool_misuse(pool, ptr);
    return;
  }
  mark_block_free(pool.free_key, ptr);
  PoolCacheEntry* entry = thread_entry(pool);
  void** top = entry ? entry_cache(pool, *entry) : nullptr;
  if (!top) {
    LockGuard guard(pool.lock);
    give_slot(pool, ptr);
    return;
  }
  void** bottom = cache_bottom(pool, top);
  if (top == bottom + pool.cache_max) {  // full: the oldest batch, at the bottom, goes to the pool
    {
      LockGuard guard(pool.lock);
      put_batch(pool, bottom);
    }
    memmove(bottom, bottom + pool.batch, (pool.cache_max - pool.batch) * sizeof(void*));
    top -= pool.batch;
  }
  *top++ = ptr;
  entry->head.store(top, std::memory_order_relaxed);
}

size_t MemoryPool::getObjectSize() const { return impl_->object_size; }
size_t MemoryPool::getAlignment() const { return impl_->granule_shift == 4 ? 16 : 8; }
const char* MemoryPool::getName() const { return impl_->name; }
size_t MemoryPool::getLastReleased() const { return impl_->last_released.load(std::memory_order_relaxed); }

size_t MemoryPool::getCapacity() const {
  return impl_->held.load(std::memory_order_relaxed) * impl_->slots_per_chunk;
}

size_t MemoryPool::getMemoryUsage() const {
  return impl_->held.load(std::memory_order_relaxed) * impl_->held_chunk_bytes;
}

size_t MemoryPool::getUsedCount() const {
  Impl& pool = *impl_;
  struct Sum {
    const Pool& pool;
    size_t cached;
  } sum{pool, 0};
  pool_visit_entries(
      pool.id,
      [](void* context, PoolCacheEntry& entry) {
        auto& s = *static_cast<Sum*>(context);
        s.cached += cache_count(s.pool, entry);
      },
      &sum);
  size_t cached = sum.cached;
  cached += size_t(pool.shelf.count()) * pool.batch;
  const size_t out = pool.out.load(std::memory_order_relaxed);
  return out > cached ? out - cached : 0;
}

void MemoryPool::shrink() { shrink_pool(*impl_); }

void MemoryPool::clear() {
  Impl& pool = *impl_;
  size_t held;
  {
    LockGuard registry(pool_registry_lock());
    LockGuard guard(pool.lock);
    pool_drop_entries(pool.id, drop_entry);  // every thread's cached slots are dropped unread
    const size_t used_bytes = pool.top << pool.chunk_shift;
    os::purge(pool.base, used_bytes);
    os::purge(pool.states, std::min(pool.reservation.states_bytes, round_up(used_bytes >> pool.granule_shift, kPageSize)));
    os::purge(pool.chunks, std::min(pool.reservation.records_bytes, round_up(pool.top * sizeof(ChunkMeta), kPageSize)));
    pool.top = 0;
    pool.shelf.clear();
    pool.partial.reset();
    pool.empty.reset();
    pool.released.reset();
    held = pool.held.exchange(0, std::memory_order_relaxed);
    pool.out.store(0, std::memory_order_relaxed);
    account(pool, held, false);
  }
  pool.last_released.store(held * pool.held_chunk_bytes, std::memory_order_relaxed);
}

namespace detail {

MemoryPool& shared_node_pool(size_t size) {
  static constinit std::atomic<MemoryPool*> pools[kSharedNodePoolMax / 8 + 1] = {};
  static constinit SpinLock lock;
  const size_t index = (std::max<size_t>(size, 1) + 7) / 8;
  if (MemoryPool* pool = pools[index].load(std::memory_order_acquire)) return *pool;
  LockGuard guard(lock);
  if (MemoryPool* pool = pools[index].load(std::memory_order_relaxed)) return *pool;
  char name[kMaxCategoryName + 1] = {};
  fmt::format_to_n(name, kMaxCategoryName, "PoolAllocator({})", index * 8);
  // Never destroyed: containers using it may outlive main(). memf's, not the program's.
  InternalAllocations shared_pool;
  auto* pool = new MemoryPool(index * 8, 64, name);
  pools[index].store(pool, std::memory_order_release);
  return *pool;
}

}  // namespace detail
}  // namespace memf

