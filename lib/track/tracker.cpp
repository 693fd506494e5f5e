#include "tracker.hpp"

#include <atomic>
#include <cstring>

#include "compiler.hpp"
#include "config.hpp"
#include "fork.hpp"
#include "large.hpp"
#include "size_classes.hpp"
#include "spin_lock.hpp"
#include "thread_cache.hpp"

namespace memf {
namespace {

// Names are written once under g_category_lock, before their tag is published by g_category_count.
constinit SpinLock g_category_lock;
constinit char g_category_names[kMaxCategories + 1][kMaxCategoryName + 1] = {
    {0}, {'U', 'n', 'k', 'n', 'o', 'w', 'n'}, {'m', 'e', 'm', 'f', '.', 'i', 'n', 't', 'e', 'r', 'n', 'a', 'l'}};
// Tags 0 (never live), 1 (Unknown) and 2 (kCategoryInternal) exist from the start.
constinit std::atomic<unsigned> g_category_count{3};
constinit std::atomic<uint64_t> g_category_overflow{0};

constinit std::atomic<bool> g_limit_set{false};
constinit std::atomic<uint64_t> g_limit{0};

// The calling thread's enclosing scopes; the current tag itself is the engine's (its fast path
// tests it: engine/thread_cache.hpp).
struct CategoryScopes {
  uint8_t depth;
  uint8_t enclosing[14];
};
__thread CategoryScopes t_scopes MEMF_TLS = {};

void register_fork_handlers() {
  fork_register(kForkCategories, {[] { g_category_lock.lock(); }, [] { g_category_lock.unlock(); },
                                  [] { g_category_lock.reset_after_fork(); }});
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
  register_fork_handlers();  // before the lock is first taken
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

void category_push(const char* name) { category_push_tag(category_intern(name)); }

void category_push_tag(uint8_t tag) {
  CategoryScopes& scopes = t_scopes;
  if (scopes.depth < sizeof(scopes.enclosing)) {
    scopes.enclosing[scopes.depth] = thread_category();
    set_thread_category(tag);
  }
  ++scopes.depth;
}

void category_pop() {
  CategoryScopes& scopes = t_scopes;
  if (scopes.depth == 0) return;
  --scopes.depth;
  if (scopes.depth < sizeof(scopes.enclosing)) set_thread_category(scopes.enclosing[scopes.depth]);
}

uint8_t current_category() { return thread_category(); }

uint64_t category_overflow_count() { return g_category_overflow.load(std::memory_order_relaxed); }

ProcessStats process_stats() {
  PoolUsage pool;
  thread_cache_usage(&pool);
  const LargeStats large = large_stats();
  const ExternalUsage external = external_usage();
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
  stats.current_bytes += external.current_bytes > 0 ? uint64_t(external.current_bytes) : 0;
  stats.allocations += external.allocations;
  stats.frees += external.frees;
  stats.total_allocated_bytes += external.allocated_bytes;
  // memf's own blocks are not the program's (kCategoryInternal).
  const TagUsage internal = tag_usage(kCategoryInternal);
  const auto minus = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
  stats.current_bytes = minus(stats.current_bytes, internal.current_bytes);
  stats.allocations = minus(stats.allocations, internal.allocations);
  stats.frees = minus(stats.frees, internal.frees);
  stats.total_allocated_bytes = minus(stats.total_allocated_bytes, internal.allocated_bytes);
  stats.total_freed_bytes =
      stats.total_allocated_bytes > stats.current_bytes ? stats.total_allocated_bytes - stats.current_bytes : 0;
  note_usage(stats.current_bytes);
  stats.peak_bytes = peak_usage();
  stats.limit_bytes = memory_limit();
  return stats;
}

void set_memory_limit(uint64_t bytes) {
  g_limit.store(bytes, std::memory_order_relaxed);
  g_limit_set.store(true, std::memory_order_release);
}

uint64_t memory_limit() {
  return g_limit_set.load(std::memory_order_acquire) ? g_limit.load(std::memory_order_relaxed) : config().limit;
}

size_t category_snapshot(CategoryUsage* out, size_t capacity) {
  const unsigned count = g_category_count.load(std::memory_order_acquire);
  const ProcessStats totals = process_stats();
  uint64_t tagged_current = 0, tagged_allocations = 0;
  for (unsigned tag = kCategoryInternal + 1; tag < count; ++tag) {
    const TagUsage usage = tag_usage(uint8_t(tag));
    tagged_current += usage.current_bytes;
    tagged_allocations += usage.allocations;
  }
  size_t written = 0;
  for (unsigned tag = 1; tag < count && written < capacity; ++tag) {
    if (tag == kCategoryInternal) continue;  // memf's own: not a category of the program
    CategoryUsage& usage = out[written++];
    usage.name = g_category_names[tag];
    if (tag == kCategoryUnknown) {
      // Untagged figures are what the totals hold beyond the tagged categories.
      usage.current_bytes = totals.current_bytes > tagged_current ? totals.current_bytes - tagged_current : 0;
      usage.allocations = totals.allocations > tagged_allocations ? totals.allocations - tagged_allocations : 0;
      raise_tag_peak(uint8_t(tag), usage.current_bytes);
      usage.peak_bytes = tag_usage(uint8_t(tag)).peak_bytes;
    } else {
      const TagUsage counters = tag_usage(uint8_t(tag));
      usage.current_bytes = counters.current_bytes;
      usage.peak_bytes = counters.peak_bytes;
      usage.allocations = counters.allocations;
    }
  }
  return count - 2;
}

}  // namespace memf
