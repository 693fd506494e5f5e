#include "accounting.hpp"

#include <atomic>

#include "compiler.hpp"
#include "thread_cache.hpp"

namespace memf {
namespace {

struct alignas(64) TagCounters {
  std::atomic<uint64_t> current{0};
  std::atomic<uint64_t> peak{0};
  std::atomic<uint64_t> allocations{0};
  std::atomic<uint64_t> allocated_bytes{0};
  std::atomic<uint64_t> frees{0};
};
constinit TagCounters g_tags[kMaxCategories + 1];

constinit std::atomic<uint64_t> g_peak{0};
constinit std::atomic<int64_t> g_large_running{0};
constinit std::atomic<int64_t> g_external_current{0};
constinit std::atomic<uint64_t> g_external_allocations{0};
constinit std::atomic<uint64_t> g_external_allocated{0};
constinit std::atomic<uint64_t> g_external_frees{0};

constinit std::atomic<WatermarkHook> g_watermark_hook{nullptr};
constinit std::atomic<AdmitHook> g_admit_hook{nullptr};
constinit std::atomic<uint64_t> g_watermark{UINT64_MAX};
constinit std::atomic<uint64_t> g_hard_limit{0};
__thread bool t_in_admit MEMF_TLS = false;

// The running total given its pool part: large and external bytes added, memf's own
// (kCategoryInternal) left out.
int64_t running_total_with(int64_t pool_bytes) {
  return pool_bytes + g_large_running.load(std::memory_order_relaxed) +
         g_external_current.load(std::memory_order_relaxed) -
         int64_t(g_tags[kCategoryInternal].current.load(std::memory_order_relaxed));
}

void raise_to(std::atomic<uint64_t>& peak, uint64_t value) {
  uint64_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

// Where the running total rises: the peak, then one compare against the watermark.
void total_rose_to(int64_t total) {
  if (total <= 0) return;
  raise_to(g_peak, uint64_t(total));
  if (MEMF_UNLIKELY(uint64_t(total) >= g_watermark.load(std::memory_order_relaxed))) {
    if (WatermarkHook hook = g_watermark_hook.load(std::memory_order_acquire)) hook(uint64_t(total));
  }
}

}  // namespace

void category_account_alloc(uint8_t tag, size_t bytes) {
  TagCounters& counters = g_tags[tag];
  const uint64_t now = counters.current.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  counters.allocations.fetch_add(1, std::memory_order_relaxed);
  counters.allocated_bytes.fetch_add(bytes, std::memory_order_relaxed);
  raise_to(counters.peak, now);
}

void category_account_free(uint8_t tag, size_t bytes) {
  g_tags[tag].current.fetch_sub(bytes, std::memory_order_relaxed);
  g_tags[tag].frees.fetch_add(1, std::memory_order_relaxed);
}

TagUsage tag_usage(uint8_t tag) {
  const TagCounters& c = g_tags[tag];
  return {c.current.load(std::memory_order_relaxed), c.peak.load(std::memory_order_relaxed),
          c.allocations.load(std::memory_order_relaxed), c.allocated_bytes.load(std::memory_order_relaxed),
          c.frees.load(std::memory_order_relaxed)};
}

void raise_tag_peak(uint8_t tag, uint64_t bytes) { raise_to(g_tags[tag].peak, bytes); }

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

ExternalUsage external_usage() {
  return {g_external_current.load(std::memory_order_relaxed), g_external_allocations.load(std::memory_order_relaxed),
          g_external_allocated.load(std::memory_order_relaxed), g_external_frees.load(std::memory_order_relaxed)};
}

void note_usage(uint64_t current) { raise_to(g_peak, current); }
uint64_t peak_usage() { return g_peak.load(std::memory_order_relaxed); }

void large_running_add(int64_t bytes) {
  g_large_running.fetch_add(bytes, std::memory_order_relaxed);
  if (bytes > 0) total_rose_to(running_total_with(pool_running_bytes()));
}

void note_pool_usage(int64_t pool_bytes) { total_rose_to(running_total_with(pool_bytes)); }

uint64_t running_total_bytes() {
  const int64_t total = running_total_with(pool_running_bytes());
  return total > 0 ? uint64_t(total) : 0;
}

void set_watermark_hook(WatermarkHook hook) { g_watermark_hook.store(hook, std::memory_order_release); }
void set_admit_hook(AdmitHook hook) { g_admit_hook.store(hook, std::memory_order_release); }
void set_usage_watermark(uint64_t bytes) { g_watermark.store(bytes, std::memory_order_relaxed); }
void set_hard_limit(uint64_t bytes) { g_hard_limit.store(bytes, std::memory_order_relaxed); }

bool admit_allocation(size_t bytes) {
  const uint64_t limit = g_hard_limit.load(std::memory_order_relaxed);
  if (MEMF_LIKELY(limit == 0)) return true;
  const uint64_t total = running_total_bytes();
  if (total + bytes <= limit || t_in_admit) return true;
  AdmitHook hook = g_admit_hook.load(std::memory_order_acquire);
  if (!hook) return true;
  t_in_admit = true;
  const bool admitted = hook(total, bytes);
  t_in_admit = false;
  return admitted;
}

}  // namespace memf
