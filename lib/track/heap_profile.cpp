#include "heap_profile.hpp"

#include <atomic>
#include <cmath>

#include "compiler.hpp"
#include "fork.hpp"
#include "os.hpp"
#include "spin_lock.hpp"
#include "stack_depot.hpp"
#include "thread_cache.hpp"

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

// The calling thread's last recorded allocation, for "temporary": freed by this thread with no
// other allocation of the thread in between.
__thread const void* t_last_block MEMF_TLS = nullptr;
__thread uint64_t t_last_count MEMF_TLS = 0;
__thread uint64_t t_recorded MEMF_TLS = 0;  // allocations recorded by this thread (exact mode)

uint64_t thread_count_now() {
  return g_mode == ProfileMode::kExact ? t_recorded : thread_allocation_count();
}

Site* site_of(uint32_t stack_id) {
  if (stack_id == 0) return &g_sites[0];
  std::atomic<uint32_t>* cookie = stack_depot_cookie(stack_id);
  if (!cookie) return &g_sites[0];
  uint32_t index = cookie->load(std::memory_order_acquire);
  if (MEMF_LIKELY(index != 0)) return &g_sites[index];
  LockGuard guard(g_site_lock);
  index = cookie->load(std::memory_order_relaxed);
  if (index == 0) {
    index = g_site_count.load(std::memory_order_relaxed);
    if (index >= kMaxSites) {
      g_sites_dropped.fetch_add(1, std::memory_order_relaxed);
      return &g_sites[0];
    }
    g_sites[index].stack_id = stack_id;
    g_site_count.store(index + 1, std::memory_order_release);
    cookie->store(index, std::memory_order_release);
  }
  return &g_sites[index];
}

uint64_t fixed(double value) { return value >= 1.8e19 ? UINT64_MAX : uint64_t(value + 0.5); }

// Copies every site's live figures into its peak figures.
void take_snapshot(int64_t total) {
  if (!g_snapshot_lock.try_lock()) return;  // another thread is taking one
  if (total >= g_next_snapshot.load(std::memory_order_relaxed)) {
    const uint32_t count = g_site_count.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < count; ++i) {
      Site& s = g_sites[i];
      s.peak = s.allocations.load(std::memory_order_relaxed) - s.frees.load(std::memory_order_relaxed);
      s.peak_bytes = s.allocated_bytes.load(std::memory_order_relaxed) - s.freed_bytes.load(std::memory_order_relaxed);
    }
    g_peak_bytes = uint64_t(total);
    g_peak_ns = os::monotonic_ns();
    ++g_snapshots;
    g_next_snapshot.store(total + total / 64 + 1, std::memory_order_relaxed);
  }
  g_snapshot_lock.unlock();
}

void fork_prepare() {
  g_site_lock.lock();
  g_snapshot_lock.lock();
}
void fork_parent() {
  g_snapshot_lock.unlock();
  g_site_lock.unlock();
}
void fork_child() {
  g_snapshot_lock.reset_after_fork();
  g_site_lock.reset_after_fork();
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
  const double weight = heap_profile_weight(event.sampling_size) * double(kProfileUnit);
  return {fixed(weight), fixed(weight * double(event.requested))};
}

}  // namespace

void heap_profile_allocated(const ProfileEvent& event) {
  if (!g_sites) return;
  const auto [blocks, bytes] = weigh(event);
  Site* site = site_of(event.stack_id);
  site->allocations.fetch_add(blocks, std::memory_order_relaxed);
  site->allocated_bytes.fetch_add(bytes, std::memory_order_relaxed);
  ++t_recorded;
  t_last_block = event.block;
  t_last_count = thread_count_now();
  const int64_t total = g_live_bytes.fetch_add(int64_t(bytes), std::memory_order_relaxed) + int64_t(bytes);
  if (MEMF_UNLIKELY(total >= g_next_snapshot.load(std::memory_order_relaxed))) take_snapshot(total);
}

void heap_profile_freed(const ProfileEvent& event) {
  if (!g_sites) return;
  const auto [blocks, bytes] = weigh(event);
  Site* site = site_of(event.stack_id);
  site->frees.fetch_add(blocks, std::memory_order_relaxed);
  site->freed_bytes.fetch_add(bytes, std::memory_order_relaxed);
  if (event.block == t_last_block) {
    if (thread_count_now() == t_last_count) site->temporary.fetch_add(blocks, std::memory_order_relaxed);
    t_last_block = nullptr;
  }
  g_live_bytes.fetch_sub(int64_t(bytes), std::memory_order_relaxed);
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
  return engine_profile(mode, g_mean_bytes, {heap_profile_allocated, heap_profile_freed, capture});
}

ProfileMode heap_profile_mode() { return g_mode; }
uint64_t heap_profile_start_ns() { return g_start_ns; }

size_t heap_profile_sites(SiteFigures* out, size_t capacity) {
  if (!g_sites) return 0;
  const uint32_t count = g_site_count.load(std::memory_order_acquire);
  const double unit = double(kProfileUnit);
  LockGuard guard(g_snapshot_lock);
  for (uint32_t i = 0; i < count && i < capacity; ++i) {
    const Site& s = g_sites[i];
    SiteFigures& f = out[i];
    f.stack_id = s.stack_id;
    f.allocations = double(s.allocations.load(std::memory_order_relaxed)) / unit;
    f.allocated_bytes = double(s.allocated_bytes.load(std::memory_order_relaxed)) / unit;
    f.frees = double(s.frees.load(std::memory_order_relaxed)) / unit;
    f.freed_bytes = double(s.freed_bytes.load(std::memory_order_relaxed)) / unit;
    f.live = f.allocations > f.frees ? f.allocations - f.frees : 0;
    f.live_bytes = f.allocated_bytes > f.freed_bytes ? f.allocated_bytes - f.freed_bytes : 0;
    f.peak = double(int64_t(s.peak)) / unit;
    f.peak_bytes = double(int64_t(s.peak_bytes)) / unit;
    if (f.peak < 0) f.peak = 0;
    if (f.peak_bytes < 0) f.peak_bytes = 0;
    f.temporary = double(s.temporary.load(std::memory_order_relaxed)) / unit;
  }
  return count;
}

ProfilePeak heap_profile_peak() {
  LockGuard guard(g_snapshot_lock);
  return {double(g_peak_bytes) / double(kProfileUnit), g_peak_ns, g_snapshots};
}

void heap_profile_snapshot_if_peak() {
  const int64_t total = g_live_bytes.load(std::memory_order_relaxed);
  {
    LockGuard guard(g_snapshot_lock);
    if (g_snapshots != 0 && uint64_t(total) < g_peak_bytes) return;
    g_next_snapshot.store(0, std::memory_order_relaxed);
  }
  take_snapshot(total);
}

uint64_t heap_profile_sites_dropped() { return g_sites_dropped.load(std::memory_order_relaxed); }

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
  g_live_bytes.store(0);
  g_next_snapshot.store(kFirstSnapshot);
  g_peak_bytes = g_peak_ns = g_snapshots = 0;
}

}  // namespace memf
