#include "engine.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>

#include "accounting.hpp"
#include "bad_pointer.hpp"
#include "large.hpp"
#include "profile_sampling.hpp"

namespace memf {

namespace {

constinit std::atomic<bool> g_hooks_installed{false};
constinit SpinLock g_hooks_lock;
__thread bool t_installing_hooks MEMF_TLS = false;

// The thread-exit and fork handlers are registered after the pools work, so that an allocation
// made by pthread_key_create or pthread_atfork (none in glibc 2.36) is served instead of
// deadlocking.
void install_hooks() {
  if (g_hooks_installed.load(std::memory_order_acquire) || t_installing_hooks) return;
  t_installing_hooks = true;
  {
    LockGuard guard(g_hooks_lock);
    if (!g_hooks_installed.load(std::memory_order_relaxed)) {
      thread_cache_init();
      g_hooks_installed.store(true, std::memory_order_release);
    }
  }
  t_installing_hooks = false;
}

// Recording every allocation: the stack id for the allocation being served, captured once, by
// the outermost entry point (calloc calls malloc's path; the program's call site is calloc's
// caller).
// While profiling, the scope also keeps the origin for a sampled allocation's stack
// (profile_sampling.hpp).
constinit std::atomic<StackHook> g_stack_hook{nullptr};
__thread bool t_capturing MEMF_TLS = false;

class StackScope {
 public:
  // size: the bytes asked for (a sampling hook weighs allocations by it).
  StackScope(const StackOrigin& origin, size_t size) {
    if (MEMF_LIKELY(!g_record_all && g_profile_mode == ProfileMode::kOff)) return;
    if (t_pending_origin.set || t_capturing) return;
    t_pending_origin = {origin, true};
    owner_ = true;
    if (!g_record_all) return;
    const StackHook hook = g_stack_hook.load(std::memory_order_acquire);
    if (!hook) return;
    t_capturing = true;
    t_pending_stack = hook(origin, size);
    t_capturing = false;
  }
  ~StackScope() {
    if (owner_) {
      t_pending_stack = 0;
      t_pending_origin.set = false;
    }
  }
  StackScope(const StackScope&) = delete;
  StackScope& operator=(const StackScope&) = delete;

 private:
  bool owner_ = false;
};

// Marks a block the slow path hands out live, tags it and records it (category counters;
// requested size and stack when every allocation is recorded).
// profiled: the heap profile records the block (it is told, and the block marked for its free).
void record_pool_block(void* block, unsigned cls, size_t requested, bool profiled) {
  mark_block_live(block);
  const uint8_t tag = thread_category();
  if (tag == kCategoryInternal) profiled = false;
  // Written only when it changes, so that untagged slow-path allocations leave the line clean.
  uint8_t& state = slot_state(block);
  const uint8_t wanted = profiled && tag == kCategoryUnknown ? kSlotProfiled : tag;
  if (state != wanted) state = wanted;
  profile_settle_if_lagged(block);  // before its record is rewritten
  if (tag != kCategoryUnknown) category_account_alloc(tag, kSizeClasses[cls].size);
  if (MEMF_UNLIKELY(g_profile_mode != ProfileMode::kOff && !profiled && tag != kCategoryUnknown)) {
    // Its free reads the record (tagged blocks free on the slow path): no earlier block's mark.
    if (SlotInfo* info = slot_info(block)) info->requested &= ~kSlotInfoProfiled;
  }
  if (MEMF_UNLIKELY(g_record_all || profiled)) {
    const uint32_t stack = profiled ? profile_stack(requested) : t_pending_stack;
    if (SlotInfo* info = slot_info(block)) {
      info->stack_id = stack;
      info->requested = uint32_t(requested) | (profiled ? kSlotInfoProfiled : 0);
    }
    if (profiled) profile_note_allocated({block, requested, kSizeClasses[cls].size, stack, tag});
  }
}

// The heap profile's record of the live pool block p (its state byte: tag), or nullptr when the
// profile does not record it: only blocks marked kSlotProfiled, or tagged ones while profiling,
// can carry one.
MEMF_ALWAYS_INLINE SlotInfo* profile_record(const void* p, unsigned cls, uint8_t tag) {
  if (tag != kSlotProfiled && (g_profile_mode == ProfileMode::kOff || tag == kCategoryUnknown)) return nullptr;
  SlotInfo* info = slot_info_in_class(p, cls);
  return info && (info->requested & kSlotInfoProfiled) ? info : nullptr;
}

// The heap profile's record of a pool block of class cls being freed or resized in place, if it
// has one: the profile told, and the record cleared (with every allocation recorded it stays: the
// slot's next allocation rewrites it). A live block freed in exact mode's lane does not come
// here: free_slow's own branch hands the profile its record unread (docs/design.md).
MEMF_ALWAYS_INLINE void unrecord_pool_block(const void* p, unsigned cls, uint8_t tag) {
  SlotInfo* info = profile_record(p, cls, tag);
  if (!info) return;
  if (!g_record_all) info->requested &= ~kSlotInfoProfiled;
  profile_note_freed({p, info->requested & ~kSlotInfoProfiled, kSizeClasses[cls].size, info->stack_id, slot_category(tag)});
}

// A block of class cls for this thread: from its cache (setting the cache up on the thread's
// first allocation), or one at a time under the class lock when the thread is exiting.
void* pool_alloc_class(unsigned cls, size_t requested) {
  // An active cache implies the pools and the hooks are set up (its activation came after both).
  const bool active = t_cache.state == ThreadState::kActive;
  if (MEMF_UNLIKELY(!active)) {
    if (!pool_init()) return nullptr;
    install_hooks();
  }
  void* block;
  bool profiled = g_profile_mode == ProfileMode::kExact;
  if (MEMF_LIKELY(active) || thread_cache_activate()) {
    if (thread_cache_count_allocation(cls)) profiled = true;
    CacheBin& bin = t_cache.bins[cls];
    FreeBlock* head = bin.head;
    if (head && !follow_link(head, &bin.head)) head = static_cast<FreeBlock*>(thread_cache_bin_corrupted(cls));
    if (head) {
      ++bin.room;
      block = head;
    } else {
      block = thread_cache_refill(cls);
    }
  } else {
    block = pool_alloc_uncached(cls);
  }
  if (block) record_pool_block(block, cls, requested, profiled);
  return block;
}

// Exact mode's lane for the common case: an untagged thread's pool allocation from a bin that
// has a block, made by malloc or operator new itself (no other entry point's scope around it).
// One call to the profile captures the stack and records the allocation; the general path's
// scope, its stack hook and its per-category branches are skipped. nullptr: take the general
// path (which then counts and records the allocation itself).
MEMF_ALWAYS_INLINE void* exact_lane_alloc(size_t size, const StackOrigin& origin) {
  ThreadCache& cache = t_cache;
  if (MEMF_UNLIKELY(cache.state != ThreadState::kActive || cache.category != kCategoryUnknown ||
                    size > config().pool_limit || t_pending_origin.set || t_capturing))
    return nullptr;
  const unsigned cls = size_to_class(size);
  CacheBin& bin = cache.bins[cls];
  FreeBlock* block = bin.head;
  if (MEMF_UNLIKELY(!block || !follow_link(block, &bin.head))) return nullptr;
  ++bin.room;
  thread_cache_count_allocation(cls);
  mark_block_live(block);
  uint8_t& state = slot_state(block);
  if (state != kSlotProfiled) state = kSlotProfiled;
  profile_settle_if_lagged(block);  // before its record is rewritten
  const uint32_t stack = g_profile_hooks.exact_allocated(block, size, origin);
  if (SlotInfo* info = slot_info_in_class(block, cls)) {
    info->stack_id = stack;
    info->requested = uint32_t(size) | kSlotInfoProfiled;
  }
  return block;
}

void* large_or_enomem(size_t size, size_t alignment, bool zero) {
  if (size > kMaxRequest) {
    errno = ENOMEM;
    return nullptr;
  }
  const uint8_t category = thread_category();
  const bool profiled = category != kCategoryInternal && profile_large_due(size);
  void* p = large_alloc(size, alignment, zero, category, profiled ? profile_stack(size) : t_pending_stack, profiled);
  if (!p) errno = ENOMEM;
  return p;
}

// Whether p is a live pool block; false after reporting it as a bad pointer.
MEMF_ALWAYS_INLINE bool checked_pool_block(const void* p, const char* operation) {
  if (MEMF_LIKELY(pool_block_live(p))) return true;
  report_bad_pointer(operation, p);
  return false;
}

// A live pool block's class size, or 0 after reporting p as a bad pointer.
size_t checked_pool_block_size(const void* p, const char* operation) {
  return checked_pool_block(p, operation) ? kSizeClasses[g_pool.slab_classes[slab_index(p)]].size : 0;
}

void* aligned_impl(size_t alignment, size_t size) {
  if (alignment <= kMinAlign) return engine_malloc(size);
  const size_t limit = config().pool_limit;
  if (size <= limit && alignment <= limit) {
    unsigned cls = aligned_size_to_class(size, alignment, limit);
    if (cls != kNoClass) {
      if (void* p = pool_alloc_class(cls, size)) return p;
    }
  }
  if (size > kMaxRequest - alignment) {
    errno = ENOMEM;
    return nullptr;
  }
  return large_or_enomem(size, alignment, false);
}

}  // namespace

void* malloc_slow(size_t size) {
  // The lane is set up only after the configuration was read (it names the profile's mode).
  if (g_exact_lane)
    if (void* p = exact_lane_alloc(size, MEMF_STACK_ORIGIN())) return p;
  load_config();
  StackScope stack(MEMF_STACK_ORIGIN(), size);
  if (size <= config().pool_limit) {
    if (void* p = pool_alloc_class(size_to_class(size), size)) return p;
    // The pools refused (their range is exhausted, or a failing limit refused a refill): mimalloc
    // serves small blocks too.
  }
  return large_or_enomem(size, kMinAlign, false);
}

void cache_overflow(void* freed_block) { thread_cache_overflow(g_pool.slab_classes[slab_index(freed_block)]); }

namespace {

// The general path of free_slow: every pointer the fast path and exact mode's lane refused.
MEMF_NOINLINE void free_general(void* p) {
  if (!p) return;
  if (pool_contains(p)) {
    if (!checked_pool_block(p, "free")) return;
    // A live block that missed the fast path is tagged with a category. Its state goes back to
    // untagged: the fast path that hands it out next does not write it.
    const size_t granule = pool_granule(p);
    const uint8_t tag = g_pool.slot_states[granule];
    const unsigned cls = g_pool.slab_classes[granule >> (kSlabShift - 4)];
    unrecord_pool_block(p, cls, tag);
    if (tag != kSlotProfiled) category_account_free(tag, kSizeClasses[cls].size);
    if (!g_record_all) g_pool.slot_states[granule] = kSlotAllocated;
    if (push_on_bin(g_pool.free_key, t_cache.bins[cls], static_cast<FreeBlock*>(p)) < 0) thread_cache_overflow(cls);
    return;
  }
  if (!large_free(p)) report_bad_pointer("free", p);
}

// The lane's free when the push overflows the bin (or the thread has no cache yet): the profile is
// told before the block is on the bin, so that nothing the call does (a thread's first event
// registers it) can hand the block out, and before the overflow moves blocks off the bin.
MEMF_NOINLINE void exact_lane_free_overflowing(FreeBlock* block, SlotInfo* info, unsigned cls) {
  if (info) g_profile_hooks.exact_freed(block, info);
  push_on_bin(g_pool.free_key, t_cache.bins[cls], block);
  thread_cache_overflow(cls);
}

}  // namespace

// Exact mode's lane for the free of a live block it recorded (state kSlotProfiled, not free):
// onto the thread's bin, then one call to the profile, last so that it is a tail call. This
// common case pays neither the general path's checks twice nor its frame; everything else (null,
// tagged, free, foreign, large) goes to free_general.
void free_slow(void* p) {
  if (g_exact_lane && g_record_all) {
    const size_t granule = pool_granule(p);  // null too is out of range
    if (MEMF_LIKELY(granule < g_pool.granules && g_pool.slot_states[granule] == kSlotProfiled)) {
      const uintptr_t key = g_pool.free_key;
      FreeBlock* block = static_cast<FreeBlock*>(p);
      if (MEMF_LIKELY(!block_is_free(key, block))) {  // a double free: the general path reports it
        const unsigned cls = g_pool.slab_classes[granule >> (kSlabShift - 4)];
        SlotInfo* info = slot_info_in_class(p, cls);  // there with g_record_all
        CacheBin& bin = t_cache.bins[cls];
        if (MEMF_UNLIKELY(bin.room <= 0)) return exact_lane_free_overflowing(block, info, cls);
        // A bin with room belongs to a thread whose cache is set up (its exit handler armed): the
        // profile's call after the push allocates nothing, so it cannot hand the block out.
        push_on_bin(key, bin, block);
        if (MEMF_LIKELY(info != nullptr)) g_profile_hooks.exact_freed(p, info);
        return;
      }
    }
  }
  free_general(p);
}

void* new_slow(size_t size) {
  if (g_exact_lane)
    if (void* p = exact_lane_alloc(size, MEMF_STACK_ORIGIN())) return p;
  StackScope stack(MEMF_STACK_ORIGIN(), size);
  for (;;) {
    void* p = malloc_slow(size);
    if (p) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

void* engine_new_nothrow(size_t size) noexcept {
  try {
    return engine_new(size);
  } catch (...) {
    return nullptr;
  }
}

void* engine_new_aligned(size_t size, size_t alignment) {
  StackScope stack(MEMF_STACK_ORIGIN(), size);
  for (;;) {
    void* p = aligned_impl(alignment, size);
    if (p) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

void* engine_new_aligned_nothrow(size_t size, size_t alignment) noexcept {
  try {
    return engine_new_aligned(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

void* engine_calloc(size_t count, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  // Exact mode's lane serves calloc as it serves malloc (the block is zeroed after).
  if (g_exact_lane)
    if (void* p = exact_lane_alloc(bytes, MEMF_STACK_ORIGIN())) return memset(p, 0, bytes);
  StackScope stack(MEMF_STACK_ORIGIN(), bytes);
  if (bytes <= config().pool_limit) {
    void* p = engine_malloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
  }
  return large_or_enomem(bytes, kMinAlign, true);
}

void* engine_realloc(void* p, size_t size) {
  StackScope stack(MEMF_STACK_ORIGIN(), size);
  if (!p) return engine_malloc(size);
  if (size == 0) {
    // glibc's behaviour, which programs written for Linux expect: free and return NULL.
    engine_free(p);
    return nullptr;
  }
  if (size > kMaxRequest) {
    errno = ENOMEM;
    return nullptr;
  }
  size_t old_usable;
  if (pool_contains(p)) {
    old_usable = checked_pool_block_size(p, "realloc");
    if (old_usable == 0) return nullptr;
    // Stay in place unless the block would be less than half used.
    if (size <= old_usable && size >= old_usable / 2) {
      const uint8_t tag = slot_state(p);
      const unsigned cls = g_pool.slab_classes[slab_index(p)];
      if (SlotInfo* info = profile_record(p, cls, tag); MEMF_UNLIKELY(info != nullptr)) {
        // Recorded as the free of the old size and an allocation of the new one, at this call.
        unrecord_pool_block(p, cls, tag);
        const uint32_t stack = profile_stack(size);
        info->stack_id = stack;
        info->requested = uint32_t(size) | kSlotInfoProfiled;
        profile_note_allocated({p, size, kSizeClasses[cls].size, stack, slot_category(tag)});
        return p;
      }
      if (MEMF_UNLIKELY(g_record_all))
        if (SlotInfo* info = slot_info_in_class(p, cls)) info->requested = uint32_t(size);
      return p;
    }
  } else {
    LargeRecord record;
    if (!large_lookup(p, &record)) {
      report_bad_pointer("realloc", p);
      return nullptr;
    }
    old_usable = record.usable;
    if (size > config().pool_limit) {
      if (void* moved = large_realloc(p, size)) return moved;
    }
  }
  void* q = engine_malloc(size);
  if (!q) return nullptr;
  memcpy(q, p, old_usable < size ? old_usable : size);
  engine_free(p);
  return q;
}

void* engine_reallocarray(void* p, size_t count, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return engine_realloc(p, bytes);
}

int engine_posix_memalign(void** out, size_t alignment, size_t size) {
  StackScope stack(MEMF_STACK_ORIGIN(), size);
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  const int saved = errno;
  void* p = aligned_impl(alignment, size);
  errno = saved;
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

void* engine_aligned_alloc(size_t alignment, size_t size) {
  StackScope stack(MEMF_STACK_ORIGIN(), size);
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  return aligned_impl(alignment, size);
}

void* engine_memalign(size_t alignment, size_t size) {
  StackScope stack(MEMF_STACK_ORIGIN(), size);
  // glibc rounds an alignment that is not a power of two up to the next one; past SIZE_MAX / 2 + 1
  // it is invalid (EINVAL), and up to there a block so aligned finds no room (ENOMEM), as in glibc.
  if (alignment > (size_t(1) << 63)) {
    errno = EINVAL;
    return nullptr;
  }
  if (alignment > (size_t(1) << 62)) {
    errno = ENOMEM;
    return nullptr;
  }
  size_t power = kMinAlign;
  while (power < alignment) power <<= 1;
  return aligned_impl(power, size);
}

void* engine_valloc(size_t size) {
  StackScope stack(MEMF_STACK_ORIGIN(), size);
  return aligned_impl(kPageSize, size);
}

void* engine_pvalloc(size_t size) {
  if (size > kMaxRequest) {
    errno = ENOMEM;
    return nullptr;
  }
  StackScope stack(MEMF_STACK_ORIGIN(), size);
  size_t rounded = size == 0 ? kPageSize : round_up(size, kPageSize);
  return aligned_impl(kPageSize, rounded);
}

size_t engine_usable_size(const void* p) {
  if (!p) return 0;
  if (pool_contains(p)) return checked_pool_block_size(p, "malloc_usable_size");
  LargeRecord record;
  if (large_lookup(p, &record)) return record.usable;
  report_bad_pointer("malloc_usable_size", p);
  return 0;
}

bool engine_owns(const void* p) {
  if (!p) return false;
  if (pool_contains(p)) return pool_block_live(p);
  LargeRecord record;
  return large_lookup(p, &record);
}

bool engine_record_every_allocation(StackHook stack_hook) {
  if (!pool_enable_slot_info()) return false;
  g_stack_hook.store(stack_hook, std::memory_order_release);
  g_record_all = true;
  thread_cache_update_fast_bound();
  return true;
}

}  // namespace memf
