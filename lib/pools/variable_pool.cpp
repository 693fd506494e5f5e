// memf::VariablePool: blocks of any size in size classes, bumped from chunks of one range
// reserved for the pool, with per-thread caches for the small classes.
//
// Layout (the pool core's reservation, core/pool_range.hpp). The pool reserves (MAP_NORESERVE:
// address space only) one range for its chunks, cut into 64 KiB units; a chunk is a run of units
// (64 KiB doubling up to 4 MiB), with its record at its first unit and every unit's record naming
// that first unit. A second reservation holds one state byte per 16-byte granule of the range:
// the class + 1 of the block starting there (written once, when the block is carved), else 0.
// Whether a carved block is free is its free mark, in its own second word (core/free_mark.hpp),
// as in the engine. So "is p a live block of this class of ours" is a subtraction, one compare,
// one byte and one word, with no lock and no search, which is what lets deallocate() run on a
// thread cache; and the fast paths never write state bytes, so two threads whose blocks lie side
// by side do not write the same state lines. Blocks above 256 KiB get a mapping of their own
// ("dedicated"), found in a sorted list under the lock.
//
// Classes: 16-byte steps up to 1 KiB, then four per doubling up to 256 KiB. Blocks of classes up
// to 4 KiB (alignment up to 16) go through the calling thread's cache for the pool: per class an
// array of free blocks, popped and pushed inline in the header (no call), in a mapping of the
// thread's own; caches exchange batches of about 16 KiB with the pool under the pool's lock, as
// arrays of pointers (parked batches are arrays too: a batch passed from one thread to another
// touches no block). Larger classes and larger alignments take the lock every call.
//
// Accounting. A chunk's `out` counts its blocks that are not on the pool's free lists (with the
// program or in a thread cache); only chunks with out == 0 are released. Released chunks stay
// in the range (pages purged) and are reused by later chunks, so a stale pointer reads zero
// state and is reported, never followed into unmapped memory.
#include <memf/memory_pool.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstring>
#include <memory>
#include <vector>

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

constexpr size_t kGranule = 16;
constexpr unsigned kGranuleShift = 4;  // the header's inline paths assume it
constexpr unsigned kSmallClasses = 64;  // 16 .. 1024 B
constexpr unsigned kClasses = kSmallClasses + 8 * 4;  // .. 256 KiB
constexpr size_t kMaxClassBytes = size_t(256) << 10;
constexpr unsigned kUnitShift = 16;
constexpr size_t kUnit = size_t(1) << kUnitShift;
constexpr size_t kMaxChunk = size_t(4) << 20;
constexpr size_t kMaxAlignment = kPageSize;
constexpr size_t kMaxRange = size_t(16) << 30;
constexpr size_t kMinRange = size_t(64) << 20;

// The header's formula (the inline paths use it), for every class.
constexpr unsigned class_of(size_t size) { return detail::variable_class_of(size); }

constexpr size_t class_bytes(unsigned cls) {
  if (cls < kSmallClasses) return size_t(cls + 1) * 16;
  const unsigned bits = 11 + (cls - kSmallClasses) / 4;
  return size_t(5 + (cls - kSmallClasses) % 4) << (bits - 3);
}

// Classes up to 4 KiB have per-thread caches; a thread exchanges about 16 KiB (2..256 blocks)
// per batch and keeps at most two batches per class. Up to four whole batches per class are
// parked on the class's shelf (core/batch_shelf.hpp) between a drain and a refill (of any
// threads), so that steady traffic exchanges batches without walking the free lists: four, not
// the core's sixteen, because a pool has 72 cached classes and sixteen 16 KiB batches each would
// let 18 MiB of one pool sit parked.
constexpr size_t kCachedMaxBytes = detail::kVariableCachedMax;
constexpr unsigned kCachedClasses = class_of(kCachedMaxBytes) + 1;
constexpr size_t kBatchBytes = 16384;
constexpr uint32_t kParkedBatches = 4;
static_assert(class_bytes(kCachedClasses - 1) == kCachedMaxBytes);

constexpr uint32_t batch_of(unsigned cls) { return blocks_per_batch(class_bytes(cls), kBatchBytes, 2, 256); }
constexpr uint32_t cache_max_of(unsigned cls) { return 2 * batch_of(cls); }

// A free block is the core's FreeBlock (at least 16 bytes): the link on the pool's free lists,
// then the free mark. A live block's second word is 0 when handed out.
using Block = FreeBlock;

// Where each cached class's slot array starts in a thread's caches (after the ThreadCaches
// record; each array has a null word below it, which an empty cache reads), and its parked
// batches in the pool's parking: running sums, in pointers.
struct ClassOffsets {
  uint32_t cache[kCachedClasses + 1];
  uint32_t parked[kCachedClasses + 1];
};
constexpr ClassOffsets kOffsets = [] {
  ClassOffsets o{};
  for (unsigned cls = 0; cls < kCachedClasses; ++cls) {
    o.cache[cls + 1] = o.cache[cls] + 1 + cache_max_of(cls);
    o.parked[cls + 1] = o.parked[cls] + kParkedBatches * batch_of(cls);
  }
  return o;
}();

using ClassCache = detail::VariableClassCache;

// A class cache's blocks are [bottom, top).
void** cache_bottom(const ClassCache& cache, unsigned cls) { return cache.end - cache_max_of(cls); }
size_t cache_count(const ClassCache& cache, unsigned cls) {
  return size_t(cache.top.load(std::memory_order_relaxed) - cache_bottom(cache, cls));
}

// A region being carved: [bump, end) of chunk `chunk`.
struct Bumper {
  char* bump = nullptr;
  char* end = nullptr;
  uint32_t chunk = kNoSlab;
};

// One thread's caches for one pool, a mapping of their own (PoolCacheEntry::head points here):
// this record, the classes' caches first (the inline paths index them from the start), then the
// slot arrays.
//
// home (under the pool's lock) is the region this thread's refills carve new blocks from: a
// chunk of its own, so that two threads' blocks do not lie side by side. Two threads sweeping
// 512 blocks of 64 B each ran at 2.7-4.0 ns per pair when their batches were carved from one
// chunk, and at 2.1-2.2 with home regions (tools/bench/pool_bench, batch pattern).
struct ThreadCaches {
  ClassCache classes[kCachedClasses];
  uint32_t epoch;  // the pool's flush_epoch when this thread last flushed
  Bumper home;
};
constexpr size_t kThreadCachesBytes =
    (sizeof(ThreadCaches) + kOffsets.cache[kCachedClasses] * sizeof(void*) + kPageSize - 1) & ~(kPageSize - 1);
static_assert(offsetof(ThreadCaches, classes) == 0, "the inline paths index the classes from the start");

// Where a chunk is (its first unit's SlabRecord::list): holding memory, or released (its pages
// given back; on the released list for reuse). Units that are no chunk's first are neither.
enum UnitState : uint8_t { kUnitNone = 0, kUnitHeld, kUnitReleased };

// One per unit of the range; the chunk's fields are kept at its first unit: the core's slab
// record (used: blocks not on the pool's free lists; list and links: the state above and the
// released list; free and carved stay unused: free blocks are kept per class, and carving is a
// bump through the chunk), and what a chunk of units adds.
struct UnitRecord : SlabRecord {
  uint32_t first;       // the first unit of the chunk this unit belongs to
  uint32_t units;       // at a first unit: the chunk's length
  ThreadCaches* owner;  // at a first unit: the thread whose home region this chunk is
  bool dropping;        // at a first unit: being released by shrink()
};

struct Dedicated {
  char* base;
  size_t bytes;
};

}  // namespace

struct alignas(64) VariablePool::Impl {
  // Read by every call; written by the constructor only.
  char* base;
  uint8_t* states;
  size_t range_bytes;
  size_t range_granules;
  uint32_t id;
  uintptr_t free_key;  // a free block's mark is free_key ^ its address
  UnitRecord* units;
  PoolReservation reservation;  // the range, the state bytes and the unit records
  size_t max_units;
  uint8_t tag;
  char name[kMaxCategoryName + 1];
  PoolNode node;

  // Bumped by every shrink(): a thread whose caches are older flushes them on its next slow
  // path, so that the blocks they pin go back and a later shrink can release their chunks.
  alignas(64) std::atomic<uint32_t> flush_epoch{0};

  // The shared part, under lock.
  alignas(64) SpinLock lock;
  uint32_t top = 0;  // units [0, top) have belonged to chunks
  SlabList<UnitRecord> released{kUnitReleased};
  Bumper shared;  // carved by threads without caches; a thread's home takes it over when empty
  uint32_t first = kNoSlab;  // kept by clear()
  Block* free[kClasses] = {};
  // A free block found written over while the lock was held, reported once it is released.
  std::atomic<const void*> corrupt_block{nullptr};
  std::atomic<size_t> corrupt_bytes{0};
  size_t initial_chunk = kUnit;
  size_t next_chunk = kUnit;
  size_t out_bytes = 0;   // blocks not on the free lists (program, caches, parked), at class size
  size_t held_bytes = 0;  // held chunks and their state bytes, dedicated mappings
  size_t last_released = 0;
  size_t parked_bytes = 0;
  // Class cls's shelf of batches of exactly batch_of(cls) blocks; its words are
  // parked[kOffsets.parked[cls]...].
  BatchShelf shelves[kCachedClasses];
  std::unique_ptr<void*[]> parked;
  std::vector<Dedicated> dedicated;  // sorted by base
};

namespace {

using VPool = VariablePool::Impl;

size_t held_bytes_of(uint32_t units) { return (size_t(units) << kUnitShift) * (kGranule + 1) / kGranule; }
char* unit_base(VPool& pool, uint32_t unit) { return pool.base + (size_t(unit) << kUnitShift); }
UnitRecord& chunk_of(VPool& pool, const void* p) {
  return pool.units[pool.units[size_t(static_cast<const char*>(p) - pool.base) >> kUnitShift].first];
}
uint8_t& state_of(VPool& pool, const void* p) {
  return pool.states[size_t(static_cast<const char*>(p) - pool.base) >> kGranuleShift];
}
void** shelf_storage(VPool& pool, unsigned cls) { return &pool.parked[kOffsets.parked[cls]]; }

// --- chunks (under pool.lock) --------------------------------------------------------------------

void hold_chunk(VPool& pool, uint32_t c) {
  UnitRecord& r = pool.units[c];
  r.list = kUnitHeld;
  r.used = 0;
  const size_t held = held_bytes_of(r.units);
  pool.held_bytes += held;
  external_account(pool.tag, int64_t(held), true);
}

// A chunk of at least `bytes` (a multiple of the unit): a released one large enough, else fresh
// units; kNoSlab when the range is exhausted.
uint32_t take_chunk(VPool& pool, size_t bytes) {
  const size_t units = bytes >> kUnitShift;
  for (uint32_t c = pool.released.head(); c != kNoSlab; c = pool.units[c].next) {
    if (pool.units[c].units >= units) {
      pool.released.remove(pool.units, c, kUnitNone);
      hold_chunk(pool, c);
      return c;
    }
  }
  if (pool.top + units > pool.max_units) return kNoSlab;
  const uint32_t c = pool.top;
  pool.top += uint32_t(units);
  for (uint32_t u = c; u < pool.top; ++u) pool.units[u].first = c;
  pool.units[c].units = uint32_t(units);
  hold_chunk(pool, c);
  return c;
}

// Purges chunk c and puts it on the released list; the bytes given back. Its free blocks must
// be off the free lists already.
size_t release_chunk(VPool& pool, uint32_t c) {
  UnitRecord& r = pool.units[c];
  const size_t bytes = size_t(r.units) << kUnitShift;
  os::purge(unit_base(pool, c), bytes);
  os::purge(pool.states + ((size_t(c) << kUnitShift) >> kGranuleShift), bytes >> kGranuleShift);
  r.dropping = false;
  r.used = 0;
  pool.released.push_front(pool.units, c);
  const size_t held = held_bytes_of(r.units);
  pool.held_bytes -= held;
  external_account(pool.tag, int64_t(held), false);
  if (r.owner) r.owner->home = Bumper{}, r.owner = nullptr;
  if (c == pool.shared.chunk) pool.shared = Bumper{};
  if (c == pool.first) pool.first = kNoSlab;
  return held;
}

// Under the lock: block, on the free list of cls, failed its check; it is reported once the lock
// is released (report_corrupt).
void note_corrupt(VPool& pool, const Block* block, unsigned cls) {
  pool.corrupt_bytes.store(class_bytes(cls), std::memory_order_relaxed);
  pool.corrupt_block.store(block, std::memory_order_relaxed);
}

// Under the lock: the first block of cls's free list, taken off; nullptr when the list is empty
// or fails its check (the list is then dropped: its blocks are never handed out again).
Block* pop_free(VPool& pool, unsigned cls) {
  Block* block = pool.free[cls];
  if (block && !follow_link(pool.free_key, block, &pool.free[cls])) {
    note_corrupt(pool, block, cls);
    pool.free[cls] = nullptr;
    return nullptr;
  }
  return block;
}

// Puts [p, p + bytes) on the free lists as blocks of the largest classes that fit.
void recycle_gap(VPool& pool, char* p, size_t bytes) {
  while (bytes >= kGranule) {
    unsigned cls = std::min(class_of(bytes), kClasses - 1);
    if (class_bytes(cls) > bytes) --cls;
    auto* block = reinterpret_cast<Block*>(p);
    state_of(pool, p) = uint8_t(cls + 1);
    make_free(pool.free_key, block, pool.free[cls]);
    pool.free[cls] = block;
    p += class_bytes(cls);
    bytes -= class_bytes(cls);
  }
}

// Gives up b's region, its chunk then has no owner. The uncarved rest goes onto the free lists;
// a home given up whole (flush) hands it to the shared region instead when that is empty, so
// that a large rest stays uncarved for the next thread that needs a region.
void give_up_region(VPool& pool, Bumper& b, bool whole = false) {
  if (b.chunk != kNoSlab) pool.units[b.chunk].owner = nullptr;
  if (whole && !pool.shared.bump && b.bump != b.end) pool.shared = b;
  else if (b.bump) recycle_gap(pool, b.bump, size_t(b.end - b.bump));
  b = Bumper{};
}

bool region_fits(const Bumper& b, size_t bytes, size_t alignment) {
  return b.bump && round_up(uintptr_t(b.bump), alignment) + bytes <= uintptr_t(b.end);
}

// `bytes` at `alignment` carved from b's region (a thread's home, owned by `owner`, or the
// shared one); when it is used up, from the shared region if b is a home and that fits, else
// from a new chunk. nullptr when the range is exhausted. Gaps left behind go onto the free lists.
char* bump_allocate(VPool& pool, Bumper& b, ThreadCaches* owner, size_t bytes, size_t alignment) {
  if (!region_fits(b, bytes, alignment)) {
    give_up_region(pool, b);
    if (&b != &pool.shared && region_fits(pool.shared, bytes, alignment)) {
      b = pool.shared;
      pool.shared = Bumper{};
    } else {
      const uint32_t c = take_chunk(pool, std::max(pool.next_chunk, round_up(bytes + alignment, kUnit)));
      if (c == kNoSlab) return nullptr;
      pool.next_chunk = std::min(pool.next_chunk * 2, kMaxChunk);
      if (pool.first == kNoSlab) pool.first = c;
      b.chunk = c;
      b.bump = unit_base(pool, c);
      b.end = b.bump + (size_t(pool.units[c].units) << kUnitShift);
    }
    pool.units[b.chunk].owner = owner;
  }
  char* p = reinterpret_cast<char*>(round_up(uintptr_t(b.bump), alignment));
  if (p != b.bump) recycle_gap(pool, b.bump, size_t(p - b.bump));
  b.bump = p + bytes;
  return p;
}

// Where the calling thread carves: its home, or the shared region when it has no caches.
Bumper& bumper_of(VPool& pool, ThreadCaches* caches) { return caches ? caches->home : pool.shared; }

// Up to n blocks of class cls (16-byte aligned) into out[], the lowest address last (on top of a
// cache: handed out first); how many (fewer only when the range is exhausted).
size_t take_blocks(VPool& pool, unsigned cls, size_t n, void** out, ThreadCaches* caches) {
  const size_t bytes = class_bytes(cls);
  size_t got = 0;
  for (; got < n; ++got) {
    char* p;
    if (Block* block = pop_free(pool, cls)) {
      p = reinterpret_cast<char*>(block);
    } else if ((p = bump_allocate(pool, bumper_of(pool, caches), caches, bytes, kGranule))) {
      state_of(pool, p) = uint8_t(cls + 1);  // carved, and free until handed out
      mark_block_free(pool.free_key, p);
    } else {
      break;
    }
    ++chunk_of(pool, p).used;
    out[got] = p;
  }
  std::reverse(out, out + got);  // the lowest address on top: handed out first
  pool.out_bytes += got * bytes;
  return got;
}

void give_block(VPool& pool, void* p, unsigned cls) {
  auto* block = static_cast<Block*>(p);
  make_free(pool.free_key, block, pool.free[cls]);
  pool.free[cls] = block;
  --chunk_of(pool, p).used;
  pool.out_bytes -= class_bytes(cls);
}

// Parked batches go back to the free lists (before shrinking).
void unpark_all(VPool& pool) {
  for (unsigned cls = 0; cls < kCachedClasses; ++cls) {
    void** parked = shelf_storage(pool, cls);
    for (size_t i = 0; i < size_t(pool.shelves[cls].count()) * batch_of(cls); ++i) give_block(pool, parked[i], cls);
    pool.shelves[cls].clear();
  }
  pool.parked_bytes = 0;
}

// --- thread caches -------------------------------------------------------------------------------

// Every class's cached blocks go back to the pool's free lists, and the rest of the thread's
// home region too.
void flush_caches(VPool& pool, ThreadCaches& caches) {
  LockGuard guard(pool.lock);
  give_up_region(pool, caches.home, true);
  for (unsigned cls = 0; cls < kCachedClasses; ++cls) {
    ClassCache& cache = caches.classes[cls];
    void** bottom = cache_bottom(cache, cls);
    for (void** block = bottom; block < cache.top.load(std::memory_order_relaxed); ++block) give_block(pool, *block, cls);
    cache.top.store(bottom, std::memory_order_relaxed);
  }
}

// The calling thread's caches for pool, created on first use, flushed first when a shrink()
// happened since the thread last looked; nullptr when uncached.
ThreadCaches* thread_caches(VPool& pool) {
  PoolCacheEntry* entry = pool_thread_entry(pool.id);
  if (!entry) return nullptr;
  void* caches = entry->head.load(std::memory_order_relaxed);
  if (!caches) {
    caches = os::map(kThreadCachesBytes);  // zeroed: every class empty
    if (!caches) return nullptr;
    auto** arrays = reinterpret_cast<void**>(static_cast<ThreadCaches*>(caches) + 1);
    for (unsigned cls = 0; cls < kCachedClasses; ++cls) {
      void** bottom = arrays + kOffsets.cache[cls] + 1;  // the word below stays null
      static_cast<ThreadCaches*>(caches)->classes[cls].top.store(bottom, std::memory_order_relaxed);
      static_cast<ThreadCaches*>(caches)->classes[cls].end = bottom + cache_max_of(cls);
    }
    static_cast<ThreadCaches*>(caches)->epoch = pool.flush_epoch.load(std::memory_order_relaxed);
    static_cast<ThreadCaches*>(caches)->home = Bumper{};
    entry->head.store(caches, std::memory_order_relaxed);
  }
  auto* mine = static_cast<ThreadCaches*>(caches);
  if (const uint32_t epoch = pool.flush_epoch.load(std::memory_order_relaxed); mine->epoch != epoch) {
    mine->epoch = epoch;
    flush_caches(pool, *mine);
  }
  return mine;
}


void flush_thread(void* self, PoolCacheEntry& entry) {
  auto* caches = static_cast<ThreadCaches*>(entry.head.load(std::memory_order_relaxed));
  flush_caches(*static_cast<VPool*>(self), *caches);
  os::unmap(caches, kThreadCachesBytes);
  entry.head.store(nullptr, std::memory_order_relaxed);
}

// clear(): every thread's cached blocks are dropped unread (the chunks start over).
void empty_caches(PoolCacheEntry& entry) {
  auto* caches = static_cast<ThreadCaches*>(entry.head.load(std::memory_order_relaxed));
  if (!caches) return;
  for (unsigned cls = 0; cls < kCachedClasses; ++cls)
    caches->classes[cls].top.store(cache_bottom(caches->classes[cls], cls), std::memory_order_relaxed);
  caches->home = Bumper{};
}

// Destruction: every thread's caches for the pool go away.
void unmap_caches(PoolCacheEntry& entry) {
  if (void* caches = entry.head.load(std::memory_order_relaxed)) os::unmap(caches, kThreadCachesBytes);
  entry.head.store(nullptr, std::memory_order_relaxed);
}

// --- misuse --------------------------------------------------------------------------------------

// Reports misuse of the pool (core/misuse.hpp). block_bytes: the block's size (0 when unknown);
// start: kInterior's enclosing block.
MEMF_NOINLINE void report(VPool& pool, const void* ptr, size_t size, Misuse kind, size_t block_bytes = 0,
                          uintptr_t start = 0, const char* operation = "memf::VariablePool::deallocate") {
  char owner[kMaxCategoryName + 96], block[kMaxCategoryName + 64];
  if (block_bytes) misuse_text(block, "VariablePool \"{}\", block of {} B", pool.name, block_bytes);
  else misuse_text(block, "VariablePool \"{}\"", pool.name);
  if (kind == Misuse::kNotLive)
    misuse_text(owner, "VariablePool \"{}\" (never handed out, or released by clear() or shrink())", pool.name);
  else misuse_text(owner, "VariablePool \"{}\"", pool.name);
  report_misuse(MisuseReport{kind, operation, ptr, reinterpret_cast<const void*>(start), size, block, "block", owner});
}

// A corrupted free list noted under the lock (note_corrupt), reported now that none is held.
void report_corrupt(VPool& pool) {
  if (const void* block = pool.corrupt_block.exchange(nullptr, std::memory_order_relaxed))
    report(pool, block, 0, Misuse::kCorruptFreeList, pool.corrupt_bytes.load(std::memory_order_relaxed), 0,
           "memf::VariablePool::allocate");
}

// A pointer into the range that is not the start of a carved block: in no held chunk, inside a
// block, or never handed out. Classified under the pool's lock, reported after it (misuse.hpp).
void report_dead(VPool& pool, const void* ptr, size_t size) {
  Misuse kind = Misuse::kNotLive;
  size_t block_bytes = 0;
  uintptr_t start = 0;
  {
    LockGuard guard(pool.lock);
    const size_t offset = size_t(static_cast<const char*>(ptr) - pool.base);
    if ((offset >> kUnitShift) < pool.top && chunk_of(pool, ptr).list == kUnitHeld) {
      const size_t chunk_granule = (size_t(pool.units[offset >> kUnitShift].first) << kUnitShift) >> kGranuleShift;
      const size_t granule = offset >> kGranuleShift;
      const size_t reach = kMaxClassBytes >> kGranuleShift;
      for (size_t g = granule + 1; g-- > chunk_granule && granule - g < reach;) {
        if (!pool.states[g]) continue;
        const size_t bytes = class_bytes(pool.states[g] - 1u);
        const uintptr_t at = uintptr_t(pool.base + (g << kGranuleShift));
        if (at + bytes > uintptr_t(ptr) && at != uintptr_t(ptr)) {
          kind = Misuse::kInterior;
          block_bytes = bytes;
          start = at;
        }
        break;
      }
    }
  }
  report(pool, ptr, size, kind, block_bytes, start);
}

// --- dedicated blocks (above 256 KiB) -------------------------------------------------------------

void* allocate_dedicated(VPool& pool, size_t size) {
  const size_t bytes = round_up(size, kPageSize);
  if (bytes < size) throw std::bad_alloc();  // overflow
  auto* p = static_cast<char*>(os::map(bytes));  // page-aligned: every allowed alignment
  if (!p) throw std::bad_alloc();
  LockGuard guard(pool.lock);
  try {
    pool.dedicated.insert(std::upper_bound(pool.dedicated.begin(), pool.dedicated.end(), p,
                                           [](const char* q, const Dedicated& d) { return q < d.base; }),
                          Dedicated{p, bytes});
  } catch (...) {
    os::unmap(p, bytes);
    throw;
  }
  pool.out_bytes += bytes;
  pool.held_bytes += bytes;
  external_account(pool.tag, int64_t(bytes), true);
  return p;
}

void deallocate_dedicated(VPool& pool, void* ptr, size_t size) {
  Dedicated found{};
  {
    LockGuard guard(pool.lock);
    auto it = std::upper_bound(pool.dedicated.begin(), pool.dedicated.end(), static_cast<char*>(ptr),
                               [](const char* q, const Dedicated& d) { return q < d.base; });
    if (it != pool.dedicated.begin() && static_cast<char*>(ptr) < (it - 1)->base + (it - 1)->bytes) found = *(it - 1);
    if (found.base == ptr) {
      pool.dedicated.erase(it - 1);
      pool.out_bytes -= found.bytes;
      pool.held_bytes -= found.bytes;
      external_account(pool.tag, int64_t(found.bytes), false);
    }
  }
  if (!found.base) return report(pool, ptr, size, Misuse::kForeign);
  if (found.base != ptr) return report(pool, ptr, size, Misuse::kInterior, found.bytes, uintptr_t(found.base));
  os::unmap(found.base, found.bytes);
}

// --- the calls -----------------------------------------------------------------------------------

MEMF_NOINLINE void* allocate_slow(VPool& pool, size_t size, size_t alignment) {
  if (alignment > kMaxAlignment || (alignment & (alignment - 1)) != 0) throw std::bad_alloc();
  ThreadCaches* caches = thread_caches(pool);
  if (size > kMaxClassBytes) return allocate_dedicated(pool, size);
  const unsigned cls = class_of(size);
  const size_t bytes = class_bytes(cls);
  if (detail::variable_cacheable(size, alignment)) {
    if (caches) {
      ClassCache& cache = caches->classes[cls];
      void** bottom = cache_bottom(cache, cls);
      void** top = cache.top.load(std::memory_order_relaxed);
      if (top == bottom) {  // one batch: a parked one, else from the free list and the home region
        const uint32_t batch = batch_of(cls);
        {
          LockGuard guard(pool.lock);
          if (pool.shelves[cls].pop(shelf_storage(pool, cls), bottom)) {
            pool.parked_bytes -= size_t(batch) * bytes;
            top = bottom + batch;
          } else {
            top = bottom + take_blocks(pool, cls, batch, bottom, caches);
          }
        }
        report_corrupt(pool);
      }
      if (top == bottom) throw std::bad_alloc();
      void* p = *--top;
      cache.top.store(top, std::memory_order_relaxed);
      mark_block_live(p);
      return p;
    }
  }
  alignment = std::max(alignment, kGranule);
  char* p;
  {
    LockGuard guard(pool.lock);
    if (Block* block = pool.free[cls]; block && uintptr_t(block) % alignment == 0 && pop_free(pool, cls)) {
      p = reinterpret_cast<char*>(block);
    } else if ((p = bump_allocate(pool, bumper_of(pool, caches), caches, bytes, alignment))) {
      state_of(pool, p) = uint8_t(cls + 1);
    }
    if (p) {
      mark_block_live(p);
      ++chunk_of(pool, p).used;
      pool.out_bytes += bytes;
    }
  }
  report_corrupt(pool);
  if (!p) throw std::bad_alloc();
  return p;
}

MEMF_NOINLINE void deallocate_slow(VPool& pool, void* ptr, size_t size) {
  if (!ptr) return;
  ThreadCaches* caches = thread_caches(pool);
  const size_t offset = uintptr_t(ptr) - uintptr_t(pool.base);
  if (offset >= pool.range_bytes) return deallocate_dedicated(pool, ptr, size);
  const uint8_t state = state_of(pool, ptr);
  if (offset % kGranule != 0 || state == 0) return report_dead(pool, ptr, size);
  const unsigned cls = state - 1u;
  if (size > kMaxClassBytes || class_of(size) != cls) return report(pool, ptr, size, Misuse::kSizeMismatch, class_bytes(cls));
  if (block_is_free(pool.free_key, ptr)) return report(pool, ptr, size, Misuse::kDoubleFree, class_bytes(cls));
  auto* block = static_cast<Block*>(ptr);
  if (cls < kCachedClasses && caches) {
    ClassCache& cache = caches->classes[cls];
    void** bottom = cache_bottom(cache, cls);
    void** top = cache.top.load(std::memory_order_relaxed);
    if (top == cache.end) {
      // The oldest batch (the bottom of the array) is parked in the pool, or given back to the
      // free lists when the parking is full.
      const uint32_t batch = batch_of(cls);
      {
        LockGuard guard(pool.lock);
        if (pool.shelves[cls].push(shelf_storage(pool, cls), bottom)) {
          pool.parked_bytes += size_t(batch) * class_bytes(cls);
        } else {
          for (uint32_t i = 0; i < batch; ++i) give_block(pool, bottom[i], cls);
        }
      }
      top -= batch;
      memmove(bottom, bottom + batch, size_t(top - bottom) * sizeof(void*));
    }
    mark_block_free(pool.free_key, block);
    *top++ = block;
    cache.top.store(top, std::memory_order_relaxed);
    return;
  }
  LockGuard guard(pool.lock);
  give_block(pool, ptr, cls);
}

size_t shrink_vpool(VPool& pool) {
  pool.flush_epoch.fetch_add(1, std::memory_order_relaxed);
  if (PoolThreadTable* table = t_pool_table; table && pool.id != kNoPoolId)
    if (void* caches = table->entries[pool.id].head.load(std::memory_order_relaxed))
      flush_caches(pool, *static_cast<ThreadCaches*>(caches));
  LockGuard guard(pool.lock);
  unpark_all(pool);
  bool any = false;
  for (uint32_t c = 0; c < pool.top; c += pool.units[c].units) {
    UnitRecord& r = pool.units[c];
    r.dropping = r.list == kUnitHeld && r.used == 0;
    any |= r.dropping;
  }
  if (!any) return pool.last_released = 0;
  // Free blocks inside the dropped chunks leave the lists before their memory goes.
  for (unsigned cls = 0; cls < kClasses; ++cls) {
    // Rebuilt in reverse order, which no caller depends on.
    Block* kept = nullptr;
    for (Block* block = pool.free[cls]; block;) {
      Block* next;
      if (!follow_link(pool.free_key, block, &next)) {
        note_corrupt(pool, block, cls);
        break;
      }
      if (!chunk_of(pool, block).dropping) {
        make_free(pool.free_key, block, kept);
        kept = block;
      }
      block = next;
    }
    pool.free[cls] = kept;
  }
  size_t released = 0;
  bool any_held = false;
  for (uint32_t c = 0; c < pool.top; c += pool.units[c].units) {
    if (pool.units[c].dropping) released += release_chunk(pool, c);
    else any_held |= pool.units[c].list == kUnitHeld;
  }
  if (!any_held) pool.next_chunk = pool.initial_chunk;
  pool.last_released = released;
  return released;
}

size_t shrink_node(void* self) { return shrink_vpool(*static_cast<VPool*>(self)); }

}  // namespace

VariablePool::VariablePool(size_t initialChunk, const char* name) : impl_(new Impl()) {
  load_config();
  std::unique_ptr<Impl> owner(impl_);
  Impl& pool = *impl_;
  pool.initial_chunk = pool.next_chunk = std::min(round_up(std::max(initialChunk, kUnit), kUnit), kMaxChunk);
  const PoolShape shape{kMaxRange, kMinRange, 1, kUnitShift, kGranuleShift, sizeof(UnitRecord)};
  if (!reserve_pool_range(shape, &pool.reservation)) throw std::bad_alloc();
  pool.base = pool.reservation.base;
  pool.range_bytes = pool.reservation.bytes;
  pool.range_granules = pool.range_bytes >> kGranuleShift;
  pool.max_units = pool.reservation.slabs;
  pool.states = pool.reservation.states;
  pool.units = static_cast<UnitRecord*>(pool.reservation.records);
  pool.parked = std::make_unique<void*[]>(kOffsets.parked[kCachedClasses]);
  for (unsigned cls = 0; cls < kCachedClasses; ++cls) pool.shelves[cls].set_shape(batch_of(cls), kParkedBatches);
  fmt::format_to_n(pool.name, kMaxCategoryName, "{}", name && *name ? name : "VariablePool");
  pool.tag = pool_category(pool.name);
  pool.node.shrink = shrink_node;
  pool.node.flush_thread = flush_thread;
  pool.node.used_range = [](void* self) {
    const VPool& p = *static_cast<const VPool*>(self);
    return AddressRange{uintptr_t(p.base), uintptr_t(p.base) + uintptr_t(p.top) * kUnit};
  };
  pool.node.self = &pool;
  pool.node.lock = &pool.lock;
  pool.free_key = free_key_for(uintptr_t(pool.base));
  pool.id = pool_registry_add(&pool.node);
  owner.release();
  base_ = pool.base;
  states_ = pool.states;
  range_granules_ = pool.range_granules;
  free_key_ = pool.free_key;
  id_ = pool.id;
}

VariablePool::~VariablePool() {
  Impl& pool = *impl_;
  pool_registry_remove(&pool.node, pool.id, unmap_caches);
  external_account(pool.tag, int64_t(pool.held_bytes), false);
  for (const Dedicated& d : pool.dedicated) os::unmap(d.base, d.bytes);
  release_pool_range(pool.reservation);
  delete impl_;
}

// The inline allocate() and deallocate() (the header) handle a cached class whose cache has
// blocks, or room; everything else comes here.
void* VariablePool::allocateSlow(size_t size, size_t alignment) { return allocate_slow(*impl_, size, alignment); }
void VariablePool::deallocateSlow(void* ptr, size_t size) { deallocate_slow(*impl_, ptr, size); }

void VariablePool::clear() {
  Impl& pool = *impl_;
  LockGuard registry(pool_registry_lock());
  LockGuard guard(pool.lock);
  pool_drop_entries(pool.id, empty_caches);  // every thread's cached blocks are dropped unread
  std::fill(std::begin(pool.free), std::end(pool.free), nullptr);
  for (BatchShelf& shelf : pool.shelves) shelf.clear();
  pool.parked_bytes = 0;
  const uint32_t keep = pool.first;
  size_t released = 0;
  for (uint32_t c = 0; c < pool.top; c += pool.units[c].units)
    if (c != keep && pool.units[c].list == kUnitHeld) released += release_chunk(pool, c);
  for (const Dedicated& d : pool.dedicated) {
    os::unmap(d.base, d.bytes);
    pool.held_bytes -= d.bytes;
    external_account(pool.tag, int64_t(d.bytes), false);
    released += d.bytes;
  }
  pool.dedicated.clear();
  pool.out_bytes = 0;
  pool.next_chunk = pool.initial_chunk;
  if (keep != kNoSlab) {
    // The first chunk stays, its pages resident, for the next round of the arena.
    UnitRecord& r = pool.units[keep];
    const size_t bytes = size_t(r.units) << kUnitShift;
    memset(pool.states + ((size_t(keep) << kUnitShift) >> kGranuleShift), 0, bytes >> kGranuleShift);
    r.used = 0;
    r.owner = nullptr;
    pool.shared = Bumper{unit_base(pool, keep), unit_base(pool, keep) + bytes, keep};
    pool.next_chunk = std::min(bytes * 2, kMaxChunk);
  }
  pool.last_released = released;
}

void VariablePool::shrink() {
  shrink_vpool(*impl_);
  report_corrupt(*impl_);
}

size_t VariablePool::getUsedBytes() const {
  Impl& pool = *impl_;
  size_t out;
  {
    LockGuard guard(pool.lock);
    out = pool.out_bytes - pool.parked_bytes;
  }
  size_t cached = 0;
  pool_visit_entries(
      pool.id,
      [](void* sum, PoolCacheEntry& entry) {
        if (auto* caches = static_cast<ThreadCaches*>(entry.head.load(std::memory_order_relaxed)))
          for (unsigned cls = 0; cls < kCachedClasses; ++cls)
            *static_cast<size_t*>(sum) += cache_count(caches->classes[cls], cls) * class_bytes(cls);
      },
      &cached);
  return out > cached ? out - cached : 0;
}

size_t VariablePool::getMemoryUsage() const {
  LockGuard guard(impl_->lock);
  return impl_->held_bytes;
}

const char* VariablePool::getName() const { return impl_->name; }

size_t VariablePool::getLastReleased() const {
  LockGuard guard(impl_->lock);
  return impl_->last_released;
}

}  // namespace memf
