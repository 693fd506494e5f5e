#include "engine.hpp"

#include <dlfcn.h>
#include <link.h>
#include <mimalloc.h>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "central.hpp"
#include "errors.hpp"
#include "large.hpp"
#include "reporter.hpp"
#include "stack_capture.hpp"
#include "stack_depot.hpp"
#include "tracker.hpp"

namespace memf {

// The leak checker's entry point (lib/leak_check.cpp); this weak fallback only says it is absent.
__attribute__((weak)) void run_exit_leak_check() {
  static const char message[] = "memf: warning: MEMF_LEAK_CHECK=1 but this build has no leak checker\n";
  os::write_stderr(message, sizeof(message) - 1);
}

namespace {

constinit std::atomic<bool> g_hooks_installed{false};
constinit SpinLock g_hooks_lock;
__thread bool t_installing_hooks MEMF_TLS = false;

void fork_prepare() {
  // Lock order everywhere: class lock -> arena lock; the others are leaves.
  central_lock_all();
  pool_arena_lock().lock();
  large_lock_all();
  thread_cache_registry_lock().lock();
  stack_depot_lock_all();
  tracker_lock_all();
  internal_alloc_lock().lock();
}

void fork_parent() {
  internal_alloc_lock().unlock();
  tracker_unlock_all();
  stack_depot_unlock_all();
  thread_cache_registry_lock().unlock();
  large_unlock_all();
  pool_arena_lock().unlock();
  central_unlock_all();
}

void fork_child() {
  internal_alloc_lock().reset_after_fork();
  tracker_reset_after_fork();
  stack_depot_reset_after_fork();
  thread_cache_registry_lock().reset_after_fork();
  large_reset_locks_after_fork();
  pool_arena_lock().reset_after_fork();
  central_reset_locks_after_fork();
  thread_cache_after_fork_child();
}

// pthread_atfork and pthread_key_create are registered after the pools work, so that an
// allocation made by them (none in glibc 2.36) is served instead of deadlocking.
void install_hooks() {
  if (g_hooks_installed.load(std::memory_order_acquire) || t_installing_hooks) return;
  t_installing_hooks = true;
  {
    LockGuard guard(g_hooks_lock);
    if (!g_hooks_installed.load(std::memory_order_relaxed)) {
      thread_cache_init();
      pthread_atfork(fork_prepare, fork_parent, fork_child);
      g_hooks_installed.store(true, std::memory_order_release);
    }
  }
  t_installing_hooks = false;
}

// The stack id for the allocation being served, when every allocation is recorded: captured
// once, by the outermost entry point (calloc calls malloc's path; the program's call site is
// calloc's caller).
__thread uint32_t t_pending_stack MEMF_TLS = 0;
__thread bool t_capturing MEMF_TLS = false;

// memf's own code, so that captured stacks start at the program's call site.
uintptr_t g_own_text_begin = 0, g_own_text_end = 0;

// MEMF_STACKS=sampled: a stack for about one allocated byte in stack_sample_bytes, the bytes
// between two samples drawn from an exponential distribution (the way tcmalloc samples its heap
// profile): an allocation of n bytes gets a stack with probability 1 - exp(-n / mean), so large
// blocks nearly always have one and small ones rarely. Per thread, no shared state; every thread's
// generator starts from the same seed, so runs are repeatable.
__thread int64_t t_sample_left MEMF_TLS = 0;
__thread uint64_t t_sample_rng MEMF_TLS = 0;

// Bytes until the next sample: -ln(u) * mean for u uniform in (0, 1].
int64_t next_sample_gap(uint64_t mean) {
  uint64_t& x = t_sample_rng;
  if (x == 0) x = 0x9e3779b97f4a7c15ull;
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  const double u = double((x >> 11) + 1) * (1.0 / 9007199254740992.0);  // (0, 1]
  const double gap = -std::log(u) * double(mean);
  return gap >= 9.0e18 ? INT64_MAX : int64_t(gap) + 1;
}

bool sample_due(size_t size) {
  const uint64_t mean = config().stack_sample_bytes;
  if (t_sample_left == 0) t_sample_left = next_sample_gap(mean);  // the thread's first allocation
  const int64_t bytes = size > size_t(INT64_MAX) ? INT64_MAX : int64_t(size);
  if (bytes < t_sample_left) {
    t_sample_left -= bytes;
    return false;
  }
  // Past one or more sample points: the allocation is sampled; draw the next point from here.
  t_sample_left = next_sample_gap(mean);
  return true;
}

class StackScope {
 public:
  // size: the bytes asked for (for MEMF_STACKS=sampled).
  StackScope(const StackOrigin& origin, size_t size) {
    if (MEMF_LIKELY(!g_record_all) || t_pending_stack != 0 || t_capturing) return;
    if (config().stacks == StacksMode::kOff) return;
    if (config().stacks == StacksMode::kSampled && !sample_due(size)) return;
    t_capturing = true;
    uintptr_t frames[kMaxStackDepth];
    const UnwindMode mode = config().precise_stacks ? UnwindMode::kPrecise : UnwindMode::kFramePointer;
    unsigned depth = capture_stack_from(origin, frames, config().stack_depth + 4, mode);
    unsigned first = 0;
    while (first < depth && frames[first] >= g_own_text_begin && frames[first] < g_own_text_end) ++first;
    unsigned kept = depth - first;
    if (kept > config().stack_depth) kept = config().stack_depth;
    t_pending_stack = kept ? stack_depot_put(frames + first, kept) : 0;
    t_capturing = false;
    owner_ = true;
  }
  ~StackScope() {
    if (owner_) t_pending_stack = 0;
  }
  StackScope(const StackScope&) = delete;
  StackScope& operator=(const StackScope&) = delete;

 private:
  bool owner_ = false;
};

// Marks a block the slow path hands out live, tags it and records it (category counters;
// requested size and stack when every allocation is recorded).
void record_pool_block(void* block, unsigned cls, size_t requested) {
  mark_block_live(block);
  const uint8_t tag = thread_category();
  // Written only when it changes, so that untagged slow-path allocations leave the line clean.
  uint8_t& state = slot_state(block);
  if (state != tag) state = tag;
  if (tag != kCategoryUnknown) category_account_alloc(tag, kSizeClasses[cls].size);
  if (MEMF_UNLIKELY(g_record_all)) {
    if (SlotInfo* info = slot_info(block)) {
      info->stack_id = t_pending_stack;
      info->requested = uint32_t(requested);
    }
  }
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
  if (MEMF_LIKELY(active) || thread_cache_activate()) {
    CacheBin& bin = t_cache.bins[cls];
    if (FreeBlock* head = bin.head) {
      bin.head = head->next;
      ++bin.room;
      block = head;
    } else {
      block = thread_cache_refill(cls);
    }
    if (block) ++bin.allocations;
  } else {
    block = pool_alloc_uncached(cls);
  }
  if (block) record_pool_block(block, cls, requested);
  return block;
}

void* large_or_enomem(size_t size, size_t alignment, bool zero) {
  if (size > kMaxRequest) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = large_alloc(size, alignment, zero, current_category(), t_pending_stack);
  if (!p) errno = ENOMEM;
  return p;
}

// A live pool block's class size, or 0 after reporting p as a bad pointer.
size_t checked_pool_block_size(const void* p, const char* operation) {
  if (pool_block_live(p)) return kSizeClasses[g_pool.slab_classes[slab_index(p)]].size;
  BadPointerDetail detail;
  BadPointer kind = classify_pool_pointer(p, &detail);
  report_bad_pointer(operation, p, kind, detail);
  return 0;
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

void print_stats_at_exit() { write_engine_stats(2); }

void leak_check_at_exit() { run_exit_leak_check(); }

int find_own_text(dl_phdr_info* info, size_t, void* context) {
  const uintptr_t probe = *static_cast<uintptr_t*>(context);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& header = info->dlpi_phdr[i];
    if (header.p_type != PT_LOAD || !(header.p_flags & PF_X)) continue;
    const uintptr_t begin = info->dlpi_addr + header.p_vaddr;
    if (probe >= begin && probe < begin + header.p_memsz) {
      g_own_text_begin = begin;
      g_own_text_end = begin + header.p_memsz;
      return 1;
    }
  }
  return 0;
}

// Runs before other constructors: the environment is readable now, even if malloc ran earlier.
__attribute__((constructor(101))) void load_config_at_start() {
  load_config();
  if (config().leak_check) {
    // Leave out of captured stacks the code of libmemf.so (not of a program memf is linked into
    // statically: then the engine's frames are the program's too).
    Dl_info self;
    if (dladdr(reinterpret_cast<void*>(&malloc_slow), &self) && self.dli_fname &&
        strstr(self.dli_fname, "libmemf") != nullptr) {
      uintptr_t probe = uintptr_t(&malloc_slow);
      dl_iterate_phdr(find_own_text, &probe);
    }
    if (pool_enable_slot_info() && stack_depot_init()) {
      g_record_all = true;
      thread_cache_update_fast_bound();
    }
    atexit(leak_check_at_exit);
  }
  if (config().stats) atexit(print_stats_at_exit);
}

}  // namespace

void* malloc_slow(size_t size) {
  load_config();
  StackScope stack(MEMF_STACK_ORIGIN(), size);
  if (size <= config().pool_limit) {
    if (void* p = pool_alloc_class(size_to_class(size), size)) return p;
    // The pools' range is exhausted: mimalloc serves small blocks too.
  }
  return large_or_enomem(size, kMinAlign, false);
}

void cache_overflow(void* freed_block) { thread_cache_overflow(g_pool.slab_classes[slab_index(freed_block)]); }

void free_slow(void* p) {
  if (!p) return;
  if (pool_contains(p)) {
    if (checked_pool_block_size(p, "free") == 0) return;
    // A live block that missed the fast path is tagged with a category. Its state goes back to
    // untagged: the fast path that hands it out next does not write it.
    const size_t granule = pool_granule(p);
    const uint8_t tag = g_pool.slot_states[granule];
    const unsigned cls = g_pool.slab_classes[granule >> (kSlabShift - 4)];
    category_account_free(tag, kSizeClasses[cls].size);
    g_pool.slot_states[granule] = kSlotAllocated;
    CacheBin& bin = t_cache.bins[cls];
    FreeBlock* block = static_cast<FreeBlock*>(p);
    mark_block_free(block);
    block->next = bin.head;
    bin.head = block;
    if (--bin.room < 0) thread_cache_overflow(cls);
    return;
  }
  if (!large_free(p)) report_bad_pointer("free", p, BadPointer::kForeign, BadPointerDetail{});
}

void* new_slow(size_t size) {
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
      if (MEMF_UNLIKELY(g_record_all))
        if (SlotInfo* info = slot_info(p)) info->requested = uint32_t(size);
      return p;
    }
  } else {
    LargeRecord record;
    if (!large_lookup(p, &record)) {
      report_bad_pointer("realloc", p, BadPointer::kForeign, BadPointerDetail{});
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
  // glibc rounds an alignment that is not a power of two up to the next one.
  if (alignment > (size_t(1) << 62)) {
    errno = EINVAL;
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
  report_bad_pointer("malloc_usable_size", p, BadPointer::kForeign, BadPointerDetail{});
  return 0;
}

bool engine_owns(const void* p) {
  if (!p) return false;
  if (pool_contains(p)) return pool_block_live(p);
  LargeRecord record;
  return large_lookup(p, &record);
}

bool engine_defrag_hint(const void* p) {
  if (!pool_block_live(p)) return false;
  const unsigned cls = g_pool.slab_classes[slab_index(p)];
  return central_slab_is_sparse(cls, slab_of(p));
}

void* engine_defrag_move(void* p) {
  if (!engine_defrag_hint(p)) return p;
  const unsigned cls = g_pool.slab_classes[slab_index(p)];
  SlabMeta* from = slab_of(p);
  FreeBlock* block = central_take_densest(cls, from);
  if (!block) return p;
  const size_t size = kSizeClasses[cls].size;
  memcpy(block, p, size);
  // The new block carries the old one's tag and records; the old one goes straight back to its
  // slab (not to a cache, which would hand it out again and keep the slab alive).
  slot_state(block) = slot_state(p);  // the copy put the program's second word over the mark
  if (SlotInfo* old_info = slot_info(p)) *slot_info(block) = *old_info;
  slot_state(p) = kSlotAllocated;
  FreeBlock* old_block = static_cast<FreeBlock*>(p);
  mark_block_free(old_block);
  old_block->next = nullptr;
  central_return(cls, old_block, 1);
  return block;
}

size_t engine_release_memory() {
  thread_cache_flush_current();
  central_flush_transfers();
  size_t released = pool_purge_all();
  released += large_release_cache();
  mi_collect(true);
  return released;
}

}  // namespace memf
