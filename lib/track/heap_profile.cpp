#include "heap_profile.hpp"

#include <atomic>
#include <cmath>

#include "allocation_stacks.hpp"
#include "compiler.hpp"
#include "config.hpp"
#include "fork.hpp"
#include "os.hpp"
#include "spare_blocks.hpp"
#include "spin_lock.hpp"
#include "stack_capture.hpp"
#include "stack_depot.hpp"
#include "thread_cache.hpp"
#include "thread_exit.hpp"

namespace memf {

namespace {

// One cache line per site. The sums are fixed point (kProfileUnit per block, per byte for the
// byte sums); peak figures are copies taken under g_snapshot_lock.
struct Site {
  std::atomic<uint64_t> allocations;
  std::atomic<uint64_t> allocated_bytes;
  std::atomic<uint64_t> frees;
  std::atomic<uint64_t> freed_bytes;
  std::atomic<uint64_t> temporary;
  uint64_t peak;
  uint64_t peak_bytes;
  uint32_t stack_id;
  uint32_t unused;
};
static_assert(sizeof(Site) == 64);

// Site 0 is allocations without a stack (and those of sites the table could not take).
constexpr size_t kMaxSites = size_t(1) << 20;

// Each thread adds its events to a small direct-mapped table of its own and moves a slot's sums
// to the shared site when the slot is taken by another site or has gathered kFlushEvents events
// (and at the thread's exit): the shared lines are written once per many events instead of on
// every one, and threads allocating from one site do not fight over its line. Readers (the
// snapshot, the profile written) add every registered thread's pending sums to the shared ones.
constexpr unsigned kPendingSlots = 64;
constexpr uint32_t kFlushEvents = 4096;
struct PendingSite {
  uint32_t key;  // the site's index + 1; 0 for an empty slot
  uint32_t events;
  uint64_t allocations, allocated_bytes, frees, freed_bytes, temporary;
};
// Each thread's table also remembers the site index of the stacks it saw last (direct-mapped by
// stack id; an index never changes once given): site_index asks the stack depot for the stack's
// record, a call and dependent loads from shared lines, on every event otherwise.
constexpr unsigned kSiteCacheShift = 8;
constexpr unsigned kSiteCacheSlots = 1u << kSiteCacheShift;
// Exact mode's lane reads a freed block's record (its stack and size) at the thread's next lane
// free, having prefetched it: in a heap larger than the caches the record is a cold line, and
// reading it at once stalled the free (docs/design.md). Whether the free was a temporary one is
// decided at the free; the figures reach the site one free later.
struct LaggedFree {
  const void* block;  // nullptr: none
  const SlotInfo* record;
  bool temporary;
};
struct PendingSites {
  PendingSite slots[kPendingSlots];
  LaggedFree lagged;
  uint32_t cached_stack[kSiteCacheSlots];  // 0 with site 0 when empty: site_index(0) is 0 too
  uint32_t cached_site[kSiteCacheSlots];
  int64_t live_bytes;  // not yet in g_live_bytes
  PendingSites* next;  // registered threads' tables
  PendingSites* prev;
  PendingSites* next_spare;  // SpareBlocks' link while no thread has the table
};
// The live total is shared once a thread's change reaches this (fixed point): the snapshot's
// trigger lags the truth by at most this much per thread.
constexpr int64_t kLiveBatch = int64_t(64 << 10) * int64_t(kProfileUnit);

constinit ProfileMode g_mode = ProfileMode::kOff;
constinit uint64_t g_mean_bytes = 0;
constinit uint64_t g_start_ns = 0;
constinit Site* g_sites = nullptr;
constinit std::atomic<uint32_t> g_site_count{0};
constinit std::atomic<uint64_t> g_sites_dropped{0};
constinit SpinLock g_site_lock;

// The sites' live total (fixed point bytes), and the peak snapshot: taken when the total passes
// the last snapshot's by more than 1/64 of it, so the snapshot's total is within 1.6% of the
// highest the total reached; each costs one pass over the sites.
constinit std::atomic<int64_t> g_live_bytes{0};
constinit std::atomic<int64_t> g_next_snapshot{0};
constinit SpinLock g_snapshot_lock;
constinit uint64_t g_peak_bytes = 0;  // fixed point, under g_snapshot_lock
constinit uint64_t g_peak_ns = 0;
constinit uint64_t g_snapshots = 0;
constexpr int64_t kFirstSnapshot = int64_t(64 << 10) * int64_t(kProfileUnit);

// A thread's table is not in static TLS: glibc zeroes every module's static TLS for each new
// thread, and 3 KiB there cost every thread of every process under memf, profiled or not, a page
// fault (mimalloc-bench's mleak, 50,000 threads: 90,273 page faults against glibc's 60,242).
// Mapped on the thread's first profiled event, kept in g_spare_tables after its exit for the
// next thread.
__thread PendingSites* t_pending MEMF_TLS = nullptr;
// Set by the thread's exit handler: events after it (other exit handlers' frees) are added to
// the sites directly, so that no table is registered for a thread that is going away.
__thread bool t_pending_retired MEMF_TLS = false;
constinit PendingSites* g_pending_threads = nullptr;  // registered threads, under g_pending_lock
constinit SpareBlocks<PendingSites> g_spare_tables;  // tables of exited threads
constinit SpinLock g_pending_lock;

// The calling thread's last recorded allocation, for "temporary": freed by this thread with no
// other allocation of the thread in between.
__thread const void* t_last_block MEMF_TLS = nullptr;
__thread uint64_t t_last_count MEMF_TLS = 0;
__thread uint64_t t_recorded MEMF_TLS = 0;  // allocations recorded by this thread (exact mode)

uint64_t thread_count_now() {
  return g_mode == ProfileMode::kExact ? t_recorded : thread_allocation_count();
}

// The site of a stack, numbered on its first event (the number is kept in the depot's record).
uint32_t site_index(uint32_t stack_id) {
  if (stack_id == 0) return 0;
  std::atomic<uint32_t>* cookie = stack_depot_cookie(stack_id);
  if (!cookie) return 0;
  uint32_t index = cookie->load(std::memory_order_acquire);
  if (MEMF_LIKELY(index != 0)) return index;
  LockGuard guard(g_site_lock);
  index = cookie->load(std::memory_order_relaxed);
  if (index == 0) {
    index = g_site_count.load(std::memory_order_relaxed);
    if (index >= kMaxSites) {
      g_sites_dropped.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    g_sites[index].stack_id = stack_id;
    g_site_count.store(index + 1, std::memory_order_release);
    cookie->store(index, std::memory_order_release);
  }
  return index;
}

MEMF_NOINLINE void flush_slot(PendingSite& slot) {
  if (slot.key == 0) return;
  Site& site = g_sites[slot.key - 1];
  if (slot.allocations) site.allocations.fetch_add(slot.allocations, std::memory_order_relaxed);
  if (slot.allocated_bytes) site.allocated_bytes.fetch_add(slot.allocated_bytes, std::memory_order_relaxed);
  if (slot.frees) site.frees.fetch_add(slot.frees, std::memory_order_relaxed);
  if (slot.freed_bytes) site.freed_bytes.fetch_add(slot.freed_bytes, std::memory_order_relaxed);
  if (slot.temporary) site.temporary.fetch_add(slot.temporary, std::memory_order_relaxed);
  slot = PendingSite{};
}

void settle_lagged(PendingSites& pending);

// At thread exit (and for every other thread in a fork child): its sums go to the sites.
void flush_pending(PendingSites& pending) {
  settle_lagged(pending);
  for (PendingSite& slot : pending.slots) flush_slot(slot);
  if (pending.live_bytes) g_live_bytes.fetch_add(pending.live_bytes, std::memory_order_relaxed);
  pending.live_bytes = 0;
}

// Caller holds g_pending_lock: the table's sums go to the sites, and the table to the spares.
void retire_locked(PendingSites* pending) {
  flush_pending(*pending);
  if (pending->prev) pending->prev->next = pending->next;
  else g_pending_threads = pending->next;
  if (pending->next) pending->next->prev = pending->prev;
  pending->next = pending->prev = nullptr;
  g_spare_tables.give(pending);
}

void flush_at_thread_exit() {
  t_pending_retired = true;
  PendingSites* pending = t_pending;
  if (!pending) return;
  LockGuard guard(g_pending_lock);
  retire_locked(pending);
  t_pending = nullptr;
}

// Registers a table for the calling thread; nullptr when no memory could be had for one, or the
// thread is past its exit handler (the caller then adds to the shared sites directly).
MEMF_NOINLINE PendingSites* register_this_thread() {
  if (t_pending_retired) return nullptr;
  // A spare table was emptied when its thread left (retire_locked); a fresh one is zeroed.
  PendingSites* pending = g_spare_tables.take();
  if (!pending) return nullptr;
  LockGuard guard(g_pending_lock);
  pending->next = g_pending_threads;
  pending->prev = nullptr;
  if (g_pending_threads) g_pending_threads->prev = pending;
  g_pending_threads = pending;
  t_pending = pending;
  thread_exit_arm();
  return pending;
}

MEMF_ALWAYS_INLINE PendingSites* this_thread_pending() {
  PendingSites* pending = t_pending;
  return MEMF_LIKELY(pending != nullptr) ? pending : register_this_thread();
}

// The entry of stack_id in a thread's site cache.
MEMF_ALWAYS_INLINE unsigned site_cache_entry(uint32_t stack_id) {
  return (stack_id * 0x9e3779b1u) >> (32 - kSiteCacheShift);
}

// The site of stack_id, through the thread's cache.
MEMF_ALWAYS_INLINE uint32_t cached_site_index(PendingSites& pending, uint32_t stack_id) {
  const unsigned slot = site_cache_entry(stack_id);
  if (MEMF_LIKELY(pending.cached_stack[slot] == stack_id)) return pending.cached_site[slot];
  const uint32_t index = site_index(stack_id);
  pending.cached_stack[slot] = stack_id;
  pending.cached_site[slot] = index;
  return index;
}

// The slot of site index in the calling thread's table, emptied for it if another site had it.
PendingSite& pending_slot(PendingSites& pending, uint32_t index) {
  PendingSite& slot = pending.slots[index & (kPendingSlots - 1)];
  if (slot.key != index + 1) {
    flush_slot(slot);
    slot.key = index + 1;
  }
  return slot;
}

// The slot of stack_id's site in the thread's table when the thread's caches already hold both
// (the site in its site cache, the slot for that site); nullptr otherwise, nothing changed. The
// lane's common case (add_allocation_in_table, settle_lagged_in_table).
MEMF_ALWAYS_INLINE PendingSite* cached_pending_slot(PendingSites& pending, uint32_t stack_id) {
  const unsigned cached = site_cache_entry(stack_id);
  if (MEMF_UNLIKELY(pending.cached_stack[cached] != stack_id)) return nullptr;
  const uint32_t index = pending.cached_site[cached];
  PendingSite& slot = pending.slots[index & (kPendingSlots - 1)];
  return MEMF_LIKELY(slot.key == index + 1) ? &slot : nullptr;
}

struct PendingSums {
  uint64_t allocations, allocated_bytes, frees, freed_bytes, temporary;
};

// A thread with no table (none could be mapped) adds its event to the shared figures at once.
// Temporaries are not counted for it.
void add_unbuffered(uint32_t index, const PendingSums& sums, int64_t live_change) {
  PendingSite slot{index + 1, 1, sums.allocations, sums.allocated_bytes, sums.frees, sums.freed_bytes, 0};
  flush_slot(slot);
  g_live_bytes.fetch_add(live_change, std::memory_order_relaxed);
}

// Adds every thread's pending sums of site i to the figures read from it (caller holds
// g_pending_lock). Other threads' tables are read while they write them: figures may be as old
// as their last few events.
__attribute__((no_sanitize("thread"))) PendingSums pending_sums(uint32_t index) {
  PendingSums sums{};
  for (PendingSites* p = g_pending_threads; p; p = p->next) {
    const PendingSite& slot = p->slots[index & (kPendingSlots - 1)];
    if (__atomic_load_n(&slot.key, __ATOMIC_RELAXED) != index + 1) continue;
    sums.allocations += __atomic_load_n(&slot.allocations, __ATOMIC_RELAXED);
    sums.allocated_bytes += __atomic_load_n(&slot.allocated_bytes, __ATOMIC_RELAXED);
    sums.frees += __atomic_load_n(&slot.frees, __ATOMIC_RELAXED);
    sums.freed_bytes += __atomic_load_n(&slot.freed_bytes, __ATOMIC_RELAXED);
    sums.temporary += __atomic_load_n(&slot.temporary, __ATOMIC_RELAXED);
  }
  return sums;
}

// The sites' live total with every thread's pending change (caller holds g_pending_lock).
__attribute__((no_sanitize("thread"))) int64_t live_total_locked() {
  int64_t total = g_live_bytes.load(std::memory_order_relaxed);
  for (PendingSites* p = g_pending_threads; p; p = p->next) total += __atomic_load_n(&p->live_bytes, __ATOMIC_RELAXED);
  return total;
}

uint64_t fixed(double value) { return value >= 1.8e19 ? UINT64_MAX : uint64_t(value + 0.5); }

// Copies every site's live figures into its peak figures.
void take_snapshot(int64_t total) {
  if (!g_snapshot_lock.try_lock()) return;  // another thread is taking one
  if (total >= g_next_snapshot.load(std::memory_order_relaxed)) {
    const uint32_t count = g_site_count.load(std::memory_order_acquire);
    LockGuard pending(g_pending_lock);
    for (uint32_t i = 0; i < count; ++i) {
      Site& s = g_sites[i];
      const PendingSums more = pending_sums(i);
      s.peak = s.allocations.load(std::memory_order_relaxed) + more.allocations - s.frees.load(std::memory_order_relaxed) -
               more.frees;
      s.peak_bytes = s.allocated_bytes.load(std::memory_order_relaxed) + more.allocated_bytes -
                     s.freed_bytes.load(std::memory_order_relaxed) - more.freed_bytes;
    }
    const int64_t now = live_total_locked();
    g_peak_bytes = now > 0 ? uint64_t(now) : 0;
    g_peak_ns = os::monotonic_ns();
    ++g_snapshots;
    g_next_snapshot.store(now + now / 64 + 1, std::memory_order_relaxed);
  }
  g_snapshot_lock.unlock();
}

void fork_prepare() {
  g_site_lock.lock();
  g_snapshot_lock.lock();
  g_pending_lock.lock();
  g_spare_tables.lock();  // taken inside g_pending_lock by retire_locked
}
void fork_parent() {
  g_spare_tables.unlock();
  g_pending_lock.unlock();
  g_snapshot_lock.unlock();
  g_site_lock.unlock();
}
// Only the forking thread lives on: the others' pending sums are added in and their tables
// become spares.
void fork_child() {
  g_spare_tables.reset_after_fork();
  g_pending_lock.reset_after_fork();
  g_snapshot_lock.reset_after_fork();
  g_site_lock.reset_after_fork();
  PendingSites* self = t_pending;
  for (PendingSites* p = g_pending_threads; p;) {
    PendingSites* next = p->next;
    if (p != self) retire_locked(p);
    p = next;
  }
}

}  // namespace

double heap_profile_weight(size_t sampling_size) {
  if (g_mode != ProfileMode::kSampled) return 1.0;
  // 1 / P(sampled) with P = 1 - exp(-size / mean).
  const double p = -std::expm1(-double(sampling_size) / double(g_mean_bytes));
  return p > 0 ? 1.0 / p : 1.0;
}

namespace {

// An event's block and bytes as fixed-point weighted figures.
struct Weighted {
  uint64_t blocks, bytes;
};
Weighted weigh(const ProfileEvent& event) {
  if (g_mode == ProfileMode::kExact) return {kProfileUnit, uint64_t(event.requested) * kProfileUnit};
  const double weight = heap_profile_weight(event.sampling_size) * double(kProfileUnit);
  return {fixed(weight), fixed(weight * double(event.requested))};
}

}  // namespace

namespace {

// The calling thread's allocation count for temporaries: exact mode counts the recorded ones.
template <bool kExactLane>
MEMF_ALWAYS_INLINE uint64_t count_now() {
  return kExactLane ? t_recorded : thread_count_now();
}

// The sums of an allocation of block at stack_id weighing w. kExactLane: exact mode's lane,
// which counts temporaries by exact mode's own count without asking the mode.
template <bool kExactLane>
MEMF_ALWAYS_INLINE void add_allocation(const void* block, uint32_t stack_id, Weighted w) {
  PendingSites* table = this_thread_pending();
  if (MEMF_UNLIKELY(!table)) {
    add_unbuffered(site_index(stack_id), {w.blocks, w.bytes, 0, 0, 0}, int64_t(w.bytes));
    return;
  }
  PendingSites& pending = *table;
  PendingSite& slot = pending_slot(pending, cached_site_index(pending, stack_id));
  slot.allocations += w.blocks;
  slot.allocated_bytes += w.bytes;
  if (++slot.events >= kFlushEvents) flush_slot(slot);
  ++t_recorded;
  t_last_block = block;
  t_last_count = count_now<kExactLane>();
  pending.live_bytes += int64_t(w.bytes);
  if (pending.live_bytes >= kLiveBatch) {
    const int64_t total = g_live_bytes.fetch_add(pending.live_bytes, std::memory_order_relaxed) + pending.live_bytes;
    pending.live_bytes = 0;
    if (MEMF_UNLIKELY(total >= g_next_snapshot.load(std::memory_order_relaxed))) {
      // The thread's own last free first: the snapshot does not count its block as live.
      settle_lagged(pending);
      take_snapshot(total);
    }
  }
}

// Whether the free of block is a temporary one: the thread's last recorded allocation, with no
// other recorded since.
template <bool kExactLane>
MEMF_ALWAYS_INLINE bool free_is_temporary(const void* block) {
  if (block != t_last_block) return false;
  t_last_block = nullptr;
  return count_now<kExactLane>() == t_last_count;
}

// The sums of a free in the calling thread's table.
MEMF_ALWAYS_INLINE void add_free_to(PendingSites& pending, uint32_t stack_id, Weighted w, bool temporary) {
  PendingSite& slot = pending_slot(pending, cached_site_index(pending, stack_id));
  slot.frees += w.blocks;
  slot.freed_bytes += w.bytes;
  if (temporary) slot.temporary += w.blocks;
  if (++slot.events >= kFlushEvents) flush_slot(slot);
  pending.live_bytes -= int64_t(w.bytes);
  if (pending.live_bytes <= -kLiveBatch) {
    g_live_bytes.fetch_add(pending.live_bytes, std::memory_order_relaxed);
    pending.live_bytes = 0;
  }
}

// A free of a thread with no table (add_unbuffered).
void add_free_unbuffered(uint32_t stack_id, Weighted w) {
  add_unbuffered(site_index(stack_id), {0, 0, w.blocks, w.bytes, 0}, -int64_t(w.bytes));
}

MEMF_ALWAYS_INLINE void add_free(const void* block, uint32_t stack_id, Weighted w) {
  PendingSites* table = this_thread_pending();
  if (MEMF_UNLIKELY(!table)) return add_free_unbuffered(stack_id, w);
  add_free_to(*table, stack_id, w, free_is_temporary<false>(block));
}

using CaptureHook = uint32_t (*)(const StackOrigin&, size_t);
constinit CaptureHook g_capture = nullptr;  // heap_profile_start's capture
// g_capture is the profile's own capture with the frame-pointer walk: the lane calls that walk
// directly.
constinit bool g_capture_frame_pointers = false;

MEMF_ALWAYS_INLINE Weighted exact_weight(size_t requested) { return {kProfileUnit, uint64_t(requested) * kProfileUnit}; }
// The weight of the block a lane record describes.
MEMF_ALWAYS_INLINE Weighted record_weight(const SlotInfo& record) {
  return exact_weight(record.requested & ~kSlotInfoProfiled);
}

}  // namespace

void heap_profile_allocated(const ProfileEvent& event) {
  if (!g_sites) return;
  add_allocation<false>(event.block, event.stack_id, weigh(event));
}

void heap_profile_freed(const ProfileEvent& event) {
  if (!g_sites) return;
  add_free(event.block, event.stack_id, weigh(event));
}

namespace {

// Reads the record of pending's lagged free, if there is one, and adds the free to its sums.
MEMF_NOINLINE void settle_lagged(PendingSites& pending) {
  LaggedFree& lagged = pending.lagged;
  if (!lagged.block) return;
  const SlotInfo& record = *lagged.record;
  add_free_to(pending, record.stack_id, record_weight(record), lagged.temporary);
  lagged.block = nullptr;
}

}  // namespace

namespace {

// add_allocation's common case in the lane, when it needs nothing but the thread's table: the
// stack's site in the thread's cache holding the site's slot, and neither the slot's event count
// nor the thread's live change reaching its flush. False: nothing done, add_allocation's turn.
MEMF_ALWAYS_INLINE bool add_allocation_in_table(PendingSites& pending, const void* block, uint32_t stack_id, Weighted w) {
  PendingSite* slot = cached_pending_slot(pending, stack_id);
  if (MEMF_UNLIKELY(!slot)) return false;
  const int64_t live = pending.live_bytes + int64_t(w.bytes);
  if (MEMF_UNLIKELY(slot->events + 1 >= kFlushEvents || live >= kLiveBatch)) return false;
  slot->allocations += w.blocks;
  slot->allocated_bytes += w.bytes;
  ++slot->events;
  pending.live_bytes = live;
  const uint64_t recorded = ++t_recorded;
  t_last_block = block;
  t_last_count = recorded;
  return true;
}

MEMF_NOINLINE uint32_t exact_allocated_general(const void* block, uint32_t stack_id, Weighted w) {
  add_allocation<true>(block, stack_id, w);
  return stack_id;
}

}  // namespace

uint32_t heap_profile_exact_allocated(const void* block, size_t requested, const StackOrigin& origin) {
  // With the frame-pointer walk, the profile's own capture is capture_frame_pointers_to_depot,
  // called here without capture_profile_stack's level in between.
  const uint32_t stack_id = g_capture_frame_pointers
                                ? capture_frame_pointers_to_depot(origin, config().stack_depth)
                                : g_capture(origin, requested);
  const Weighted w = exact_weight(requested);
  PendingSites* table = t_pending;
  if (MEMF_LIKELY(table != nullptr) && add_allocation_in_table(*table, block, stack_id, w)) return stack_id;
  return exact_allocated_general(block, stack_id, w);
}

namespace {

// The lane's free by a thread with no table yet: registers one, or (none to be had) adds the
// free to the sites at once.
MEMF_NOINLINE void exact_freed_unregistered(const void* block, SlotInfo* record) {
  const bool temporary = free_is_temporary<true>(block);
  PendingSites* table = register_this_thread();
  if (!table) return add_free_unbuffered(record->stack_id, record_weight(*record));
  table->lagged = {block, record, temporary};
  t_lagged_free = block;
}

// Settles pending's lagged free when that needs nothing but its table's own lines: its stack's
// site is in the thread's cache and holds the site's slot, and neither the slot's event count
// nor the thread's live change reaches its flush. False: nothing done, settle_lagged's turn.
MEMF_ALWAYS_INLINE bool settle_lagged_in_table(PendingSites& pending) {
  LaggedFree& lagged = pending.lagged;
  if (!lagged.block) return true;
  const SlotInfo& record = *lagged.record;
  PendingSite* slot = cached_pending_slot(pending, record.stack_id);
  if (MEMF_UNLIKELY(!slot)) return false;
  const Weighted w = record_weight(record);
  const int64_t live = pending.live_bytes - int64_t(w.bytes);
  if (MEMF_UNLIKELY(slot->events + 1 >= kFlushEvents || live <= -kLiveBatch)) return false;
  slot->frees += w.blocks;
  slot->freed_bytes += w.bytes;
  if (lagged.temporary) slot->temporary += w.blocks;
  ++slot->events;
  pending.live_bytes = live;
  lagged.block = nullptr;
  return true;
}

// The lane's free when the lagged one needs more than its table (settle_lagged_in_table).
MEMF_NOINLINE void exact_freed_settling(PendingSites& pending, const void* block, SlotInfo* record, bool temporary) {
  settle_lagged(pending);
  pending.lagged = {block, record, temporary};
  t_lagged_free = block;
}

}  // namespace

// Every branch off the common one ends in a call to a function of its own, so that the common
// one, run on most frees in exact mode, needs no frame.
void heap_profile_exact_freed(const void* block, SlotInfo* record) {
  PendingSites* table = t_pending;
  if (MEMF_UNLIKELY(!table)) return exact_freed_unregistered(block, record);
  const bool temporary = free_is_temporary<true>(block);
  __builtin_prefetch(record);
  // The previous free's record, prefetched then.
  if (MEMF_UNLIKELY(!settle_lagged_in_table(*table))) return exact_freed_settling(*table, block, record, temporary);
  table->lagged = {block, record, temporary};
  t_lagged_free = block;
}

// Called most often when the lane hands out again the block freed last (a buffer dropped and
// another taken at once): its record is in the cache then, and settling in the table is enough.
void heap_profile_exact_settle() {
  PendingSites* table = t_pending;
  if (MEMF_LIKELY(table != nullptr) && !settle_lagged_in_table(*table)) settle_lagged(*table);
}

bool heap_profile_start(ProfileMode mode, uint64_t mean_bytes, uint32_t (*capture)(const StackOrigin&, size_t)) {
  if (mode == ProfileMode::kOff || g_sites) return false;
  void* table = os::map(kMaxSites * sizeof(Site));
  if (!table) return false;
  g_sites = static_cast<Site*>(table);
  g_site_count.store(1, std::memory_order_release);
  g_mode = mode;
  g_mean_bytes = mean_bytes ? mean_bytes : 1;
  g_start_ns = os::monotonic_ns();
  g_next_snapshot.store(kFirstSnapshot, std::memory_order_relaxed);
  fork_register(kForkProfile, {fork_prepare, fork_parent, fork_child});
  thread_exit_register(kThreadExitProfile, flush_at_thread_exit);
  g_capture = capture;
  g_capture_frame_pointers = capture == capture_profile_stack && !config().precise_stacks;
  // The lane serves both unwinders: neither calls malloc (the DWARF one reads its cached rules,
  // and a malloc from inside it, from a signal handler, gets the frame-pointer walk).
  const bool lane = mode == ProfileMode::kExact && capture;
  return engine_profile(mode, g_mean_bytes,
                        {heap_profile_allocated, heap_profile_freed, capture,
                         lane ? heap_profile_exact_allocated : nullptr, lane ? heap_profile_exact_freed : nullptr,
                         lane ? heap_profile_exact_settle : nullptr});
}

ProfileMode heap_profile_mode() { return g_mode; }
uint64_t heap_profile_start_ns() { return g_start_ns; }

size_t heap_profile_sites(SiteFigures* out, size_t capacity) {
  if (!g_sites) return 0;
  profile_settle_lagged_free();  // the calling thread's last free counted; other threads' may lag by one
  const uint32_t count = g_site_count.load(std::memory_order_acquire);
  const double unit = double(kProfileUnit);
  LockGuard guard(g_snapshot_lock);
  LockGuard pending(g_pending_lock);
  for (uint32_t i = 0; i < count && i < capacity; ++i) {
    const Site& s = g_sites[i];
    SiteFigures& f = out[i];
    const PendingSums more = pending_sums(i);
    f.stack_id = s.stack_id;
    f.allocations = double(s.allocations.load(std::memory_order_relaxed) + more.allocations) / unit;
    f.allocated_bytes = double(s.allocated_bytes.load(std::memory_order_relaxed) + more.allocated_bytes) / unit;
    f.frees = double(s.frees.load(std::memory_order_relaxed) + more.frees) / unit;
    f.freed_bytes = double(s.freed_bytes.load(std::memory_order_relaxed) + more.freed_bytes) / unit;
    f.live = f.allocations > f.frees ? f.allocations - f.frees : 0;
    f.live_bytes = f.allocated_bytes > f.freed_bytes ? f.allocated_bytes - f.freed_bytes : 0;
    f.peak = double(int64_t(s.peak)) / unit;
    f.peak_bytes = double(int64_t(s.peak_bytes)) / unit;
    if (f.peak < 0) f.peak = 0;
    if (f.peak_bytes < 0) f.peak_bytes = 0;
    f.temporary = double(s.temporary.load(std::memory_order_relaxed) + more.temporary) / unit;
  }
  return count;
}

ProfilePeak heap_profile_peak() {
  LockGuard guard(g_snapshot_lock);
  return {double(g_peak_bytes) / double(kProfileUnit), g_peak_ns, g_snapshots};
}

void heap_profile_snapshot_if_peak() {
  profile_settle_lagged_free();
  int64_t total;
  {
    LockGuard guard(g_pending_lock);
    total = live_total_locked();
  }
  {
    LockGuard guard(g_snapshot_lock);
    if (g_snapshots != 0 && uint64_t(total) < g_peak_bytes) return;
    g_next_snapshot.store(0, std::memory_order_relaxed);
  }
  take_snapshot(total);
}

uint64_t heap_profile_sites_dropped() { return g_sites_dropped.load(std::memory_order_relaxed); }

ProfileThreadTables heap_profile_thread_tables() {
  LockGuard guard(g_pending_lock);
  ProfileThreadTables tables{0, g_spare_tables.spare()};
  for (PendingSites* p = g_pending_threads; p; p = p->next) ++tables.in_use;
  return tables;
}

void heap_profile_reset_for_test() {
  if (!g_sites) return;
  LockGuard guard(g_site_lock);
  LockGuard snapshot(g_snapshot_lock);
  const uint32_t count = g_site_count.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < count; ++i) {
    Site& s = g_sites[i];
    s.allocations.store(0), s.allocated_bytes.store(0), s.frees.store(0), s.freed_bytes.store(0), s.temporary.store(0);
    s.peak = s.peak_bytes = 0;
  }
  {
    LockGuard pending(g_pending_lock);
    for (PendingSites* p = g_pending_threads; p; p = p->next) {
      p->lagged.block = nullptr;
      for (PendingSite& slot : p->slots) slot = PendingSite{};
      p->live_bytes = 0;
    }
  }
  g_live_bytes.store(0);
  g_next_snapshot.store(kFirstSnapshot);
  g_peak_bytes = g_peak_ns = g_snapshots = 0;
}

}  // namespace memf
