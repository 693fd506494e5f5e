#include "tracker.hpp"

#include <atomic>
#include <cstring>

#include "config.hpp"
#include "large.hpp"
#include "platform.hpp"
#include "pressure.hpp"
#include "size_classes.hpp"
#include "thread_cache.hpp"

namespace memf {
namespace {

struct alignas(64) CategoryCounters {
  std::atomic<uint64_t> current{0};
  std::atomic<uint64_t> peak{0};
  std::atomic<uint64_t> allocations{0};
};

// Names are written once under g_category_lock, before their tag is published by g_category_count.
constinit SpinLock g_category_lock;
constinit char g_category_names[kMaxCategories + 1][kMaxCategoryName + 1] = {{0}, {'U', 'n', 'k', 'n', 'o', 'w', 'n'}};
constinit std::atomic<unsigned> g_category_count{2};  // tags 0 (never live) and 1 (Unknown) exist
constinit CategoryCounters g_category[kMaxCategories + 1];
constinit std::atomic<uint64_t> g_category_overflow{0};

constinit std::atomic<uint64_t> g_peak{0};
constinit std::atomic<bool> g_limit_set{false};
constinit std::atomic<uint64_t> g_limit{0};
constinit std::atomic<int64_t> g_external_current{0};
constinit std::atomic<uint64_t> g_external_allocations{0};
constinit std::atomic<uint64_t> g_external_allocated{0};
constinit std::atomic<uint64_t> g_external_frees{0};

void raise_to(std::atomic<uint64_t>& peak, uint64_t value) {
  uint64_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

const char* category_name(uint8_t tag) {
  return tag < g_category_count.load(std::memory_order_acquire) && tag != 0 ? g_category_names[tag] : "?";
}

uint8_t category_intern(const char* name) {
  if (!name || !*name) return kCategoryUnknown;
  size_t length = strnlen(name, kMaxCategoryName);
  unsigned count = g_category_count.load(std::memory_order_acquire);
  for (unsigned tag = 1; tag < count; ++tag)
    if (strncmp(g_category_names[tag], name, kMaxCategoryName) == 0) return uint8_t(tag);
  LockGuard guard(g_category_lock);
  count = g_category_count.load(std::memory_order_relaxed);
  for (unsigned tag = 1; tag < count; ++tag)
    if (strncmp(g_category_names[tag], name, kMaxCategoryName) == 0) return uint8_t(tag);
  if (count > kMaxCategories) {
    g_category_overflow.fetch_add(1, std::memory_order_relaxed);
    return kCategoryUnknown;
  }
  memcpy(g_category_names[count], name, length);
  g_category_names[count][length] = 0;
  g_category_count.store(count + 1, std::memory_order_release);
  return uint8_t(count);
}

void category_push(const char* name) {
  ThreadCache& cache = t_cache;
  const uint8_t tag = category_intern(name);
  const uint8_t current = cache.category ? cache.category : kCategoryUnknown;
  if (cache.category_depth < sizeof(cache.category_stack)) {
    cache.category_stack[cache.category_depth] = current;
    cache.category = tag;
  }
  ++cache.category_depth;
  thread_cache_update_fast_bound();
}

void category_pop() {
  ThreadCache& cache = t_cache;
  if (cache.category_depth == 0) return;
  --cache.category_depth;
  if (cache.category_depth < sizeof(cache.category_stack)) cache.category = cache.category_stack[cache.category_depth];
  thread_cache_update_fast_bound();
}

uint8_t current_category() { return thread_category(); }

void category_account_alloc(uint8_t tag, size_t bytes) {
  CategoryCounters& counters = g_category[tag];
  const uint64_t now = counters.current.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  counters.allocations.fetch_add(1, std::memory_order_relaxed);
  raise_to(counters.peak, now);
}

void category_account_free(uint8_t tag, size_t bytes) {
  g_category[tag].current.fetch_sub(bytes, std::memory_order_relaxed);
}

void external_account(uint8_t tag, int64_t bytes, bool is_allocation) {
  if (is_allocation) {
    g_external_current.fetch_add(bytes, std::memory_order_relaxed);
    g_external_allocations.fetch_add(1, std::memory_order_relaxed);
    g_external_allocated.fetch_add(uint64_t(bytes), std::memory_order_relaxed);
    category_account_alloc(tag, size_t(bytes));
  } else {
    g_external_current.fetch_sub(bytes, std::memory_order_relaxed);
    g_external_frees.fetch_add(1, std::memory_order_relaxed);
    category_account_free(tag, size_t(bytes));
  }
}

uint64_t category_overflow_count() { return g_category_overflow.load(std::memory_order_relaxed); }

ProcessStats process_stats() {
  PoolUsage pool;
  thread_cache_usage(&pool);
  LargeStats large = large_stats();
  ProcessStats stats{};
  uint64_t pool_live_blocks = 0;
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    const uint64_t size = kSizeClasses[cls].size;
    const int64_t live = pool.live[cls] > 0 ? pool.live[cls] : 0;
    stats.current_bytes += uint64_t(live) * size;
    stats.allocations += pool.allocations[cls];
    stats.total_allocated_bytes += pool.allocations[cls] * size;
    pool_live_blocks += uint64_t(live);
  }
  stats.frees = stats.allocations > pool_live_blocks ? stats.allocations - pool_live_blocks : 0;
  stats.current_bytes += large.live_bytes;
  stats.allocations += large.allocations;
  stats.frees += large.frees;
  stats.total_allocated_bytes += large.allocated_bytes;
  const int64_t external = g_external_current.load(std::memory_order_relaxed);
  stats.current_bytes += external > 0 ? uint64_t(external) : 0;
  stats.allocations += g_external_allocations.load(std::memory_order_relaxed);
  stats.frees += g_external_frees.load(std::memory_order_relaxed);
  stats.total_allocated_bytes += g_external_allocated.load(std::memory_order_relaxed);
  stats.total_freed_bytes =
      stats.total_allocated_bytes > stats.current_bytes ? stats.total_allocated_bytes - stats.current_bytes : 0;
  note_usage(stats.current_bytes);
  stats.peak_bytes = g_peak.load(std::memory_order_relaxed);
  stats.limit_bytes = memory_limit();
  return stats;
}

void note_usage(uint64_t current) { raise_to(g_peak, current); }

namespace {
constinit std::atomic<int64_t> g_large_running{0};
constinit std::atomic<const PressureHooks*> g_hooks{nullptr};
constinit std::atomic<uint64_t> g_watermark{UINT64_MAX};
constinit std::atomic<uint64_t> g_hard_limit{0};
__thread bool t_in_admit __attribute__((tls_model("initial-exec"))) = false;

// Where the running total rises: the peak, then one compare against the watermark.
void total_rose_to(int64_t total) {
  if (total <= 0) return;
  raise_to(g_peak, uint64_t(total));
  if (MEMF_UNLIKELY(uint64_t(total) >= g_watermark.load(std::memory_order_relaxed))) {
    const PressureHooks* hooks = g_hooks.load(std::memory_order_acquire);
    if (hooks && hooks->on_watermark) hooks->on_watermark(uint64_t(total));
  }
}
}  // namespace

void large_running_add(int64_t bytes) {
  const int64_t large = g_large_running.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (bytes > 0) total_rose_to(large + pool_running_bytes() + g_external_current.load(std::memory_order_relaxed));
}

void note_pool_usage(int64_t pool_bytes) {
  total_rose_to(pool_bytes + g_large_running.load(std::memory_order_relaxed) +
                g_external_current.load(std::memory_order_relaxed));
}

uint64_t running_total_bytes() {
  const int64_t total = pool_running_bytes() + g_large_running.load(std::memory_order_relaxed) +
                        g_external_current.load(std::memory_order_relaxed);
  return total > 0 ? uint64_t(total) : 0;
}

void tracker_lock_all() { g_category_lock.lock(); }
void tracker_unlock_all() { g_category_lock.unlock(); }
void tracker_reset_after_fork() { g_category_lock.reset_after_fork(); }

void set_pressure_hooks(const PressureHooks* hooks) { g_hooks.store(hooks, std::memory_order_release); }
void set_pressure_watermark(uint64_t bytes) { g_watermark.store(bytes, std::memory_order_relaxed); }
void set_hard_limit(uint64_t bytes) { g_hard_limit.store(bytes, std::memory_order_relaxed); }

bool pressure_admit(size_t bytes) {
  const uint64_t limit = g_hard_limit.load(std::memory_order_relaxed);
  if (MEMF_LIKELY(limit == 0)) return true;
  const uint64_t total = running_total_bytes();
  if (total + bytes <= limit || t_in_admit) return true;
  const PressureHooks* hooks = g_hooks.load(std::memory_order_acquire);
  if (!hooks || !hooks->admit) return true;
  t_in_admit = true;
  const bool admitted = hooks->admit(total, bytes);
  t_in_admit = false;
  return admitted;
}


void set_memory_limit(uint64_t bytes) {
  g_limit.store(bytes, std::memory_order_relaxed);
  g_limit_set.store(true, std::memory_order_release);
  pressure_limit_changed();
}

uint64_t memory_limit() {
  return g_limit_set.load(std::memory_order_acquire) ? g_limit.load(std::memory_order_relaxed) : config().limit;
}

size_t category_snapshot(CategoryUsage* out, size_t capacity) {
  const unsigned count = g_category_count.load(std::memory_order_acquire);
  ProcessStats totals = process_stats();
  uint64_t tagged_current = 0, tagged_allocations = 0;
  for (unsigned tag = 2; tag < count; ++tag) {
    tagged_current += g_category[tag].current.load(std::memory_order_relaxed);
    tagged_allocations += g_category[tag].allocations.load(std::memory_order_relaxed);
  }
  size_t written = 0;
  for (unsigned tag = 1; tag < count && written < capacity; ++tag, ++written) {
    CategoryUsage& usage = out[written];
    usage.name = g_category_names[tag];
    if (tag == kCategoryUnknown) {
      // Untagged figures are what the totals hold beyond the tagged categories.
      usage.current_bytes = totals.current_bytes > tagged_current ? totals.current_bytes - tagged_current : 0;
      usage.allocations = totals.allocations > tagged_allocations ? totals.allocations - tagged_allocations : 0;
      raise_to(g_category[tag].peak, usage.current_bytes);
      usage.peak_bytes = g_category[tag].peak.load(std::memory_order_relaxed);
    } else {
      usage.current_bytes = g_category[tag].current.load(std::memory_order_relaxed);
      usage.peak_bytes = g_category[tag].peak.load(std::memory_order_relaxed);
      usage.allocations = g_category[tag].allocations.load(std::memory_order_relaxed);
    }
  }
  return count - 1;
}

}  // namespace memf
