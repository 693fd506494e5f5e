#include "large.hpp"

#include <mimalloc.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "accounting.hpp"
#include "compiler.hpp"
#include "config.hpp"
#include "freed_large.hpp"
#include "os.hpp"
#include "page_reporting.hpp"
#include "profile_sampling.hpp"
#include "spin_lock.hpp"

namespace memf {
namespace {

// ---- the table of live large blocks ------------------------------------------------------

struct Entry {
  uintptr_t key;  // 0 = empty slot
  LargeRecord record;
};

constexpr unsigned kStripeBits = 6;
constexpr unsigned kStripes = 1u << kStripeBits;
// A stripe starts with this many slots in g_first_slots (8 blocks at load 1/2) and moves to a
// mapping of its own, at least a page, once it needs more.
constexpr size_t kInitialSlots = 16;
static_assert(kMaxLargeTableRanges == kStripes + 1, "large.hpp states how many ranges the table has");

// What an insertion or a removal adds to its stripe's counters (large_stats): kept under the
// stripe's lock, which the operation holds anyway, instead of in process-wide atomics that every
// large allocation and free would write.
struct TableCount {
  uint64_t allocations = 0;
  uint64_t frees = 0;
  uint64_t allocated_bytes = 0;
};

struct alignas(64) Stripe {
  SpinLock lock;
  Entry* slots = nullptr;
  size_t capacity = 0;  // power of two
  size_t count = 0;
  size_t bytes = 0;
  TableCount counted;
};

constinit Stripe g_stripes[kStripes];
// Every stripe's first slots, side by side: a program with a few large blocks finds all their
// entries in 32 KiB, where one page per stripe would spread them over 64 pages (each its own
// TLB entry and first-touch fault).
constinit Entry g_first_slots[kStripes][kInitialSlots] = {};

// The top bits pick the stripe, the low bits the slot. A product's low k bits depend only on its
// factor's low k bits: blocks of one size (mimalloc's 20 KiB blocks are 2^12 * 5 bytes apart)
// would share the low bits of their slots and pile up in one probe run. Folding the high half in
// spreads them; the top 32 bits, which pick the stripe, stay the product's.
MEMF_ALWAYS_INLINE uint64_t hash_pointer(uintptr_t key) {
  const uint64_t product = (key >> 4) * 0x9E3779B97F4A7C15ull;
  return product ^ (product >> 32);
}

}  // namespace

uint64_t large_table_hash(uintptr_t address) { return hash_pointer(address); }

namespace {

MEMF_ALWAYS_INLINE Stripe& stripe_for(uint64_t hash) { return g_stripes[hash >> (64 - kStripeBits)]; }
MEMF_ALWAYS_INLINE bool in_first_slots(const Entry* slots) {
  return slots >= &g_first_slots[0][0] && slots < &g_first_slots[0][0] + kStripes * kInitialSlots;
}

MEMF_ALWAYS_INLINE void add_counts(Stripe& stripe, const TableCount& count) {
  stripe.counted.allocations += count.allocations;
  stripe.counted.frees += count.frees;
  stripe.counted.allocated_bytes += count.allocated_bytes;
}

// Caller holds the stripe lock. Linear probing, load factor <= 1/2.
bool stripe_grow(Stripe& stripe) {
  if (!stripe.capacity) {
    stripe.slots = g_first_slots[&stripe - g_stripes];
    stripe.capacity = kInitialSlots;
    return true;
  }
  const size_t capacity = std::max(stripe.capacity * 2, kPageSize / sizeof(Entry));
  Entry* slots = static_cast<Entry*>(os::map(capacity * sizeof(Entry)));
  if (!slots) return false;
  for (size_t i = 0; i < stripe.capacity; ++i) {
    if (!stripe.slots[i].key) continue;
    size_t index = hash_pointer(stripe.slots[i].key) & (capacity - 1);
    while (slots[index].key) index = (index + 1) & (capacity - 1);
    slots[index] = stripe.slots[i];
  }
  if (in_first_slots(stripe.slots)) std::memset(static_cast<void*>(stripe.slots), 0, stripe.capacity * sizeof(Entry));
  else os::unmap(stripe.slots, stripe.capacity * sizeof(Entry));
  stripe.slots = slots;
  stripe.capacity = capacity;
  return true;
}

bool table_insert(void* p, const LargeRecord& record, const TableCount& count) {
  uintptr_t key = uintptr_t(p);
  uint64_t hash = hash_pointer(key);
  Stripe& stripe = stripe_for(hash);
  LockGuard guard(stripe.lock);
  if ((stripe.count + 1) * 2 > stripe.capacity && !stripe_grow(stripe)) return false;
  size_t index = hash & (stripe.capacity - 1);
  while (stripe.slots[index].key) index = (index + 1) & (stripe.capacity - 1);
  stripe.slots[index] = Entry{key, record};
  ++stripe.count;
  stripe.bytes += record.requested;
  add_counts(stripe, count);
  return true;
}

// Caller holds the stripe lock; returns the slot index or SIZE_MAX.
size_t stripe_find(const Stripe& stripe, uintptr_t key, uint64_t hash) {
  if (!stripe.capacity) return SIZE_MAX;
  size_t index = hash & (stripe.capacity - 1);
  while (stripe.slots[index].key) {
    if (stripe.slots[index].key == key) return index;
    index = (index + 1) & (stripe.capacity - 1);
  }
  return SIZE_MAX;
}

// Caller holds the stripe lock. Backward-shift deletion keeps probe chains intact without tombstones.
void stripe_erase(Stripe& stripe, size_t index) {
  stripe.bytes -= stripe.slots[index].record.requested;
  --stripe.count;
  size_t mask = stripe.capacity - 1;
  size_t hole = index;
  for (size_t next = (hole + 1) & mask; stripe.slots[next].key; next = (next + 1) & mask) {
    size_t home = hash_pointer(stripe.slots[next].key) & mask;
    // Move the entry into the hole when its home is not in (hole, next].
    if (((next - home) & mask) >= ((next - hole) & mask)) {
      stripe.slots[hole] = stripe.slots[next];
      hole = next;
    }
  }
  stripe.slots[hole].key = 0;
}

// Finds p under its stripe's lock and copies its record; with erase, removes it too (and adds
// count to the stripe's counters).
bool table_find(const void* p, LargeRecord* record, bool erase, const TableCount& count = {}) {
  uintptr_t key = uintptr_t(p);
  uint64_t hash = hash_pointer(key);
  Stripe& stripe = stripe_for(hash);
  LockGuard guard(stripe.lock);
  size_t index = stripe_find(stripe, key, hash);
  if (index == SIZE_MAX) return false;
  *record = stripe.slots[index].record;
  if (erase) {
    stripe_erase(stripe, index);
    add_counts(stripe, count);
  }
  return true;
}

bool table_remove(const void* p, LargeRecord* record, const TableCount& count) { return table_find(p, record, true, count); }

// ---- whole mappings and their cache -------------------------------------------------------

constexpr unsigned kMappingCacheSlots = 32;
constexpr size_t kMaxMimallocAlignment = size_t(64) << 10;
// What the cache may keep however little is live (glibc's largest mmap threshold is the same 32
// MiB): a program that frees its one big buffer and allocates another keeps its pages. Above it,
// the cache holds at most as much as the live mappings (and MEMF_HUGE_CACHE): `sort -S 100M`,
// which frees its 100 MB buffer and goes on with three 35 MB ones, does not keep the 100 MB
// resident beside them (peak RSS 107 MB instead of 178 MB; glibc 104 MB).
constexpr size_t kMappingCacheFloor = size_t(32) << 20;
// A cached mapping not reused for this long is given back at the next huge allocation or free:
// re-faulting its pages then costs at most once per interval.
constexpr uint64_t kMappingCacheDecayNs = 1000000000;

struct CachedMapping {
  void* address;
  size_t bytes;
  uint64_t sequence;  // lower = freed earlier
  uint64_t freed_ns;  // coarse monotonic time of the free
};

constinit SpinLock g_mapping_lock;
constinit CachedMapping g_cached[kMappingCacheSlots] = {};
unsigned g_cached_count = 0;
size_t g_cached_bytes = 0;
uint64_t g_cache_sequence = 0;
uint64_t g_cache_hits = 0;
uint64_t g_cache_misses = 0;
// Bytes of huge blocks' mappings now with the program: the cache's bound above the floor.
constinit std::atomic<size_t> g_mapped_live{0};

void cache_remove_at(unsigned index) {
  g_cached_bytes -= g_cached[index].bytes;
  g_cached[index] = g_cached[--g_cached_count];
}

// Under g_mapping_lock: unmaps the mappings cached longer than the decay interval.
void cache_decay(uint64_t now_ns) {
  for (unsigned i = 0; i < g_cached_count;) {
    if (now_ns - g_cached[i].freed_ns > kMappingCacheDecayNs) {
      void* victim = g_cached[i].address;
      const size_t victim_bytes = g_cached[i].bytes;
      cache_remove_at(i);
      os::unmap(victim, victim_bytes);
    } else {
      ++i;
    }
  }
}

// Alignment above a page: map alignment extra bytes and trim both ends (fresh, so zero).
void* mapping_alloc_aligned(size_t need, size_t alignment) {
  if (need + alignment < need) return nullptr;
  char* raw = static_cast<char*>(os::map(need + alignment));
  if (!raw) return nullptr;
  char* aligned = reinterpret_cast<char*>(round_up(uintptr_t(raw), alignment));
  if (aligned > raw) os::unmap(raw, size_t(aligned - raw));
  size_t tail = size_t(raw + need + alignment - (aligned + need));
  if (tail) os::unmap(aligned + need, tail);
  return aligned;
}

// Grows a cached mapping to need bytes, where it is if the addresses after it are free, else by
// moving it; nullptr on failure. A mapping of whole huge pages moves to a huge-page boundary, so
// that the kernel moves its huge pages whole: on the benchmark machine a page moved as a 4 KiB
// page-table entry costs about 6 us at its next touch (a 16 MiB mapping written after the move:
// 24-31 ms instead of 0.8-1.1), while one made of huge pages, grown from 16 to 18 MiB and
// written whole, took 3.0-3.5 ms (design.md, "Large blocks"). Without huge pages mremap itself
// tries the place first. A mapping smaller than a huge page had no advice: it gets it here.
void* grow_mapping(void* address, size_t bytes, size_t need, bool huge_pages) {
  if (!huge_pages) return os::remap(address, bytes, need);
  if (os::grow_in_place(address, bytes, need)) {
    if (bytes < kHugePageSize) os::advise_huge_pages(address, need);
    return address;
  }
  void* dest = mapping_alloc_aligned(need, kHugePageSize);
  if (!dest) return nullptr;
  void* moved = os::remap_to(address, bytes, need, dest);
  if (!moved) os::unmap(dest, need);
  else os::advise_huge_pages(moved, need);  // its own advice moves with it; a mapping made before
                                            // MEMF_HUGE_PAGES took effect gets it here
  return moved;
}

// Whether huge blocks get transparent huge pages: MEMF_HUGE_PAGES on, or auto (the default)
// where the hypervisor does not take back free memory; and the system's THP mode "always" or
// "madvise". Where it does (base/page_reporting.hpp), a fresh huge page is memory the host
// discarded: `malloc-large` spent 1.1 s of system time in 608 faults after an idle machine
// reported its free memory, against 0.3 s in 134,000 faults of 4 KiB pages (design.md, "Large
// blocks").
bool huge_pages_wanted() {
  switch (config().huge_pages) {
    case HugePages::kOff: return false;
    case HugePages::kOn: return os::transparent_huge_pages();
    case HugePages::kAuto: break;
  }
  return os::transparent_huge_pages() && !free_page_reporting();
}

// Whether a fresh mapping of need bytes is placed on a huge-page boundary and advised for
// transparent huge pages: at least a huge page, and huge_pages_wanted(). Written page by page, a
// 25 MiB block then takes 13 faults instead of 6,400: a fresh 20 MiB block written whole took
// 2-5 ms instead of 63 ms where the host backed the memory (design.md, "Large blocks"). A block
// touched sparsely is made resident 2 MiB at a time, as mimalloc's are. The advice stays with
// the mapping through the cache and mremap.
bool huge_pages_for(size_t need) { return need >= kHugePageSize && huge_pages_wanted(); }

// With huge pages the mapping is a whole number of them: a partial last one would be faulted in
// 4 KiB pages (512 faults each time a block's last 2 MiB are written: `huge` took 3,766 page
// faults with 7 fresh mappings).
void* fresh_mapping(size_t need, size_t alignment, size_t* mapped) {
  const bool huge_pages = huge_pages_for(need);
  if (huge_pages) {
    if (alignment < kHugePageSize) alignment = kHugePageSize;
    need = round_up(need, kHugePageSize);
  }
  void* p = alignment <= kPageSize ? os::map(need) : mapping_alloc_aligned(need, alignment);
  *mapped = need;
  if (p && huge_pages) os::advise_huge_pages(p, need);
  return p;
}

// Resizes a block's mapping of bytes to hold need (page-rounded) bytes: nullptr on failure, else
// where it is now, with its new length in *resized. With huge pages the length is whole huge pages
// and a growth goes through grow_mapping, as a cached mapping's does: a buffer grown by realloc
// in steps then moves rarely (most steps fit in its last huge page) and, when it moves, its huge
// pages move whole.
void* resize_mapping(void* address, size_t bytes, size_t need, size_t* resized) {
  const bool huge_pages = huge_pages_for(need);
  if (huge_pages) need = round_up(need, kHugePageSize);
  *resized = need;
  if (need == bytes) return address;
  if (need < bytes) return os::remap(address, bytes, need);  // shrinks where it is
  return grow_mapping(address, bytes, need, huge_pages);
}

// The smallest cached mapping of at least need bytes is reused as it is (its pages are resident;
// splitting it, measured, left pieces too small for the next large request, which then faulted
// in the difference); otherwise the largest smaller one grows (grow_mapping); otherwise a fresh
// mapping.
void* mapping_alloc(size_t need, bool zero, size_t* mapped) {
  // Whole huge pages, as fresh_mapping makes them: a mapping grown keeps no partial one.
  const bool huge_pages = huge_pages_for(need);
  if (huge_pages) need = round_up(need, kHugePageSize);
  CachedMapping reused{};
  {
    LockGuard guard(g_mapping_lock);
    cache_decay(os::coarse_now_ns());
    int best_fit = -1, best_smaller = -1;
    for (unsigned i = 0; i < g_cached_count; ++i) {
      size_t bytes = g_cached[i].bytes;
      if (bytes >= need) {
        if (best_fit < 0 || bytes < g_cached[best_fit].bytes) best_fit = int(i);
      } else if (best_smaller < 0 || bytes > g_cached[best_smaller].bytes) {
        best_smaller = int(i);
      }
    }
    int pick = best_fit >= 0 ? best_fit : best_smaller;
    if (pick >= 0) {
      reused = g_cached[pick];
      cache_remove_at(unsigned(pick));
      ++g_cache_hits;
    } else {
      ++g_cache_misses;
    }
  }
  if (reused.address && reused.bytes < need) {
    void* grown = grow_mapping(reused.address, reused.bytes, need, huge_pages);
    if (!grown) os::unmap(reused.address, reused.bytes);
    reused.address = grown;
    reused.bytes = need;
  }
  if (reused.address) {
    if (zero) memset(reused.address, 0, need);
    *mapped = reused.bytes;
    return reused.address;
  }
  return fresh_mapping(need, kPageSize, mapped);  // fresh anonymous memory is zero
}

void mapping_free(void* address, size_t bytes) {
  const size_t live = g_mapped_live.load(std::memory_order_relaxed);
  const size_t limit = std::min(config().huge_cache_bytes, std::max(kMappingCacheFloor, live));
  if (bytes <= limit) {
    const uint64_t now_ns = os::coarse_now_ns();
    LockGuard guard(g_mapping_lock);
    cache_decay(now_ns);
    // Make room by dropping the mappings freed longest ago.
    while (g_cached_count > 0 && (g_cached_count == kMappingCacheSlots || g_cached_bytes + bytes > limit)) {
      unsigned oldest = 0;
      for (unsigned i = 1; i < g_cached_count; ++i)
        if (g_cached[i].sequence < g_cached[oldest].sequence) oldest = i;
      void* victim = g_cached[oldest].address;
      size_t victim_bytes = g_cached[oldest].bytes;
      cache_remove_at(oldest);
      os::unmap(victim, victim_bytes);
    }
    g_cached[g_cached_count++] = CachedMapping{address, bytes, ++g_cache_sequence, now_ns};
    g_cached_bytes += bytes;
    return;
  }
  os::unmap(address, bytes);
}

// Re-inserting a record just removed cannot need more room unless another thread filled the
// stripe meanwhile and the table could not grow: memf cannot go on without knowing the block.
void insert_or_die(void* p, const LargeRecord& record, const TableCount& count) {
  if (table_insert(p, record, count)) return;
  static const char message[] = "memf: fatal: no memory left for the large-block table\n";
  os::write_stderr(message, sizeof(message) - 1);
  abort();
}

}  // namespace

void* large_alloc(size_t size, size_t alignment, bool zero, uint8_t category, uint32_t stack_id, bool profiled) {
  if (!admit_allocation(size)) return nullptr;
  LargeRecord record{size, 0, LargeKind::kMimalloc, category, profiled, stack_id};
  void* p;
  if (size >= config().huge_threshold || alignment > kMaxMimallocAlignment) {
    size_t mapped = 0;
    // A mapping is at least a page, so that even a zero-byte block has an address of its own.
    const size_t need = size == 0 ? kPageSize : round_up(size, kPageSize);
    p = alignment <= kPageSize ? mapping_alloc(need, zero, &mapped) : fresh_mapping(need, alignment, &mapped);
    if (!p) return nullptr;
    record.kind = LargeKind::kMapping;
    record.usable = mapped;
  } else {
    // mimalloc puts blocks of 8 bytes or less on 8-byte boundaries; memf's are 16-byte aligned
    // (small requests come here when the pools refuse a refill, as under a failing limit).
    const size_t mi_size = size < 16 ? 16 : size;
    if (alignment <= 16) p = zero ? mi_zalloc(mi_size) : mi_malloc(mi_size);
    else p = zero ? mi_zalloc_aligned(size, alignment) : mi_malloc_aligned(size, alignment);
    if (!p) return nullptr;
    // mimalloc keeps a free block's list link in its first word; see mark_block_live for why a
    // block handed out must not carry it.
    if (!zero) *static_cast<uintptr_t*>(p) = 0;
  }
  if (!table_insert(p, record, TableCount{1, 0, size})) {
    if (record.kind == LargeKind::kMapping) os::unmap(p, record.usable);
    else mi_free(p);
    return nullptr;
  }
  if (record.kind == LargeKind::kMapping) g_mapped_live.fetch_add(record.usable, std::memory_order_relaxed);
  large_running_add(int64_t(size));
  if (category != kCategoryUnknown) category_account_alloc(category, size);
  if (profiled) profile_note_allocated({p, size, size, stack_id, category});
  return p;
}

bool large_free(void* p) {
  LargeRecord record;
  if (!table_remove(p, &record, TableCount{0, 1, 0})) return false;
  remember_freed_large({uintptr_t(p), record.requested, record.stack_id, record.kind == LargeKind::kMapping});
  if (record.profiled)
    profile_note_freed({p, record.requested, record.requested, record.stack_id, record.category});
  large_running_add(-int64_t(record.requested));
  if (record.category != kCategoryUnknown) category_account_free(record.category, record.requested);
  if (record.kind == LargeKind::kMapping) {
    g_mapped_live.fetch_sub(record.usable, std::memory_order_relaxed);
    mapping_free(p, record.usable);
  } else {
    mi_free(p);
  }
  return true;
}

bool large_lookup(const void* p, LargeRecord* record) {
  if (!table_find(p, record, false)) return false;
  // The caller's live block: mimalloc's size of it cannot change while the caller holds it.
  if (record->kind == LargeKind::kMimalloc) record->usable = mi_usable_size(p);
  return true;
}

void* large_realloc(void* p, size_t new_size) {
  LargeRecord record;
  // Counted below once the block has moved (a free of the old size and an allocation of the new).
  if (!table_remove(p, &record, TableCount{})) return nullptr;
  void* moved = nullptr;
  LargeRecord updated = record;
  updated.requested = new_size;
  if (record.kind == LargeKind::kMapping && new_size >= config().huge_threshold) {
    moved = resize_mapping(p, record.usable, round_up(new_size, kPageSize), &updated.usable);
    if (moved) g_mapped_live.fetch_add(updated.usable - record.usable, std::memory_order_relaxed);  // modulo 2^64
  } else if (record.kind == LargeKind::kMimalloc && new_size < config().huge_threshold) {
    moved = mi_realloc(p, new_size);
  }
  if (moved) {
    if (record.profiled)
      profile_note_freed({p, record.requested, record.requested, record.stack_id, record.category});
    updated.profiled = record.category != kCategoryInternal && profile_large_due(new_size);
    if (updated.profiled) updated.stack_id = profile_stack(new_size);
    insert_or_die(moved, updated, TableCount{1, 1, new_size});
    if (updated.profiled)
      profile_note_allocated({moved, new_size, new_size, updated.stack_id, updated.category});
    large_running_add(int64_t(new_size) - int64_t(record.requested));
    if (record.category != kCategoryUnknown) {
      category_account_free(record.category, record.requested);
      category_account_alloc(record.category, new_size);
    }
    return moved;
  }
  // The kinds differ (or the move failed): the block stays where it was; the caller copies.
  insert_or_die(p, record, TableCount{});
  return nullptr;
}

size_t large_release_cache() {
  size_t released = 0;
  LockGuard guard(g_mapping_lock);
  while (g_cached_count > 0) {
    void* address = g_cached[g_cached_count - 1].address;
    size_t bytes = g_cached[g_cached_count - 1].bytes;
    cache_remove_at(g_cached_count - 1);
    os::unmap(address, bytes);
    released += bytes;
  }
  return released;
}

LargeStats large_stats() {
  LargeStats stats{};
  for (Stripe& stripe : g_stripes) {
    LockGuard guard(stripe.lock);
    stats.live_blocks += stripe.count;
    stats.live_bytes += stripe.bytes;
    stats.allocations += stripe.counted.allocations;
    stats.frees += stripe.counted.frees;
    stats.allocated_bytes += stripe.counted.allocated_bytes;
  }
  LockGuard guard(g_mapping_lock);
  stats.cached_mappings = g_cached_count;
  stats.cached_bytes = g_cached_bytes;
  stats.mapping_cache_hits = g_cache_hits;
  stats.mapping_cache_misses = g_cache_misses;
  return stats;
}

void large_for_each(bool (*visit)(const void* address, const LargeRecord& record, void* context), void* context) {
  for (Stripe& stripe : g_stripes) {
    LockGuard guard(stripe.lock);
    for (size_t i = 0; i < stripe.capacity; ++i) {
      if (stripe.slots[i].key && !visit(reinterpret_cast<const void*>(stripe.slots[i].key), stripe.slots[i].record, context))
        return;
    }
  }
}

size_t large_table_ranges(uintptr_t* begins, uintptr_t* ends, size_t capacity) {
  size_t count = 0;
  // The first slots are memf's static data, which the leak checker would otherwise scan as roots.
  if (capacity > 0) {
    begins[0] = uintptr_t(&g_first_slots[0][0]);
    ends[0] = uintptr_t(&g_first_slots[0][0] + kStripes * kInitialSlots);
  }
  ++count;
  for (Stripe& stripe : g_stripes) {
    LockGuard guard(stripe.lock);
    if (!stripe.slots || in_first_slots(stripe.slots)) continue;
    if (count < capacity) {
      begins[count] = uintptr_t(stripe.slots);
      ends[count] = uintptr_t(stripe.slots) + stripe.capacity * sizeof(Entry);
    }
    ++count;
  }
  return count;
}

void large_lock_all() {
  for (Stripe& stripe : g_stripes) stripe.lock.lock();
  g_mapping_lock.lock();
}

void large_unlock_all() {
  g_mapping_lock.unlock();
  for (Stripe& stripe : g_stripes) stripe.lock.unlock();
}

void large_reset_locks_after_fork() {
  g_mapping_lock.reset_after_fork();
  for (Stripe& stripe : g_stripes) stripe.lock.reset_after_fork();
}

}  // namespace memf
