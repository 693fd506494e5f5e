#include "optimizer.hpp"

#include <fcntl.h>
#include <mimalloc.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <memf/memory_pool.hpp>

#include "central.hpp"
#include "large.hpp"
#include "platform.hpp"
#include "pool_arena.hpp"
#include "pressure.hpp"
#include "thread_cache.hpp"
#include "tracker.hpp"

namespace memf {

namespace {

constexpr unsigned kMaxCaches = 64;

struct CacheEntry {
  char name[48];
  size_t (*evict)(size_t, void*);
  void* ctx;
  int priority;
  int id;  // 0 = free slot
};

// g_run_lock serialises optimizer runs (and guards g_last and the totals). g_cache_lock guards
// the registry; it is never held while a cache's evict runs. Order: run -> cache.
constinit pthread_mutex_t g_run_lock = PTHREAD_MUTEX_INITIALIZER;
constinit pthread_mutex_t g_cache_lock = PTHREAD_MUTEX_INITIALIZER;
constinit pthread_cond_t g_cache_cond = PTHREAD_COND_INITIALIZER;
constinit CacheEntry g_caches[kMaxCaches] = {};
constinit int g_next_cache_id = 1;
constinit int g_cache_inflight = 0;
constinit OptimizerReport g_last = {};
constinit uint64_t g_totals[kOptimizerSteps] = {};
constinit uint64_t g_runs = 0;
// Set while this thread runs the optimizer: its own allocations (an evict callback's) neither
// wait for the run lock it holds nor start another run.
__thread bool t_in_optimizer MEMF_TLS = false;

constinit std::atomic<int> g_action{int(LimitAction::kWarn)};
constinit std::atomic<uint64_t> g_own_limit{0};
constinit std::atomic<uint64_t> g_sync_point{0};
constinit std::atomic<uint64_t> g_sync_wanted{0};
constinit std::atomic<bool> g_over_own{false};  // warned about this excursion past the own limit
constinit std::atomic<uint64_t> g_warn_bump{0};  // hard limit raised past the own limit (warn mode)
constinit std::atomic<uint64_t> g_last_refusal_ns{0};
constinit std::atomic<bool> g_hooks_installed{false};
constinit std::atomic<uint64_t> g_admit_calls{0}, g_admit_refused{0}, g_admit_warned{0}, g_admit_sync{0};

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// Resident bytes of the process (statm), to measure what mi_collect gave back.
uint64_t resident_bytes() {
  char buf[128];
  if (read_small_file("/proc/self/statm", buf, sizeof buf) <= 0) return 0;
  unsigned long size = 0, resident = 0;
  if (sscanf(buf, "%lu %lu", &size, &resident) != 2) return 0;
  return uint64_t(resident) * uint64_t(sysconf(_SC_PAGESIZE));
}

uint64_t step_of(uint64_t limit) { return limit / 64 > (1u << 20) ? limit / 64 : (1u << 20); }

void apply_hard_limit() {
  const uint64_t own = g_own_limit.load(std::memory_order_relaxed);
  const uint64_t sync = g_sync_point.load(std::memory_order_relaxed);
  uint64_t hard = own;
  if (own && g_over_own.load(std::memory_order_relaxed)) {
    const uint64_t bump = g_warn_bump.load(std::memory_order_relaxed);
    if (bump > hard) hard = bump;
  }
  if (sync && (!hard || sync < hard)) hard = sync;
  set_hard_limit(hard);
}

// Steps 2-4; bytes given back to the OS per step.
uint64_t purge_slabs() { return pool_purge_all(); }
uint64_t release_mappings() { return large_release_cache(); }
uint64_t shrink_pools() { return shrinkAllPools(); }
uint64_t collect_mimalloc() {
  const uint64_t before = resident_bytes();
  mi_collect(true);
  const uint64_t after = resident_bytes();
  return before > after ? before - after : 0;
}

uint64_t evict_caches(uint64_t wanted, unsigned* called) {
  // Lowest priority first; among equals, the earlier registration.
  CacheEntry order[kMaxCaches];
  unsigned count = 0;
  pthread_mutex_lock(&g_cache_lock);
  for (const CacheEntry& entry : g_caches)
    if (entry.id) order[count++] = entry;
  pthread_mutex_unlock(&g_cache_lock);
  for (unsigned i = 1; i < count; ++i)
    for (unsigned j = i; j > 0 && (order[j].priority < order[j - 1].priority ||
                                   (order[j].priority == order[j - 1].priority && order[j].id < order[j - 1].id));
         --j) {
      const CacheEntry tmp = order[j];
      order[j] = order[j - 1];
      order[j - 1] = tmp;
    }
  uint64_t freed = 0;
  for (unsigned i = 0; i < count && freed < wanted; ++i) {
    pthread_mutex_lock(&g_cache_lock);
    bool live = false;
    for (const CacheEntry& entry : g_caches)
      if (entry.id == order[i].id) live = true;
    if (live) g_cache_inflight = order[i].id;
    pthread_mutex_unlock(&g_cache_lock);
    if (!live) continue;
    const size_t got = order[i].evict(size_t(wanted - freed), order[i].ctx);
    ++*called;
    freed += got;
    pthread_mutex_lock(&g_cache_lock);
    g_cache_inflight = 0;
    pthread_cond_broadcast(&g_cache_cond);
    pthread_mutex_unlock(&g_cache_lock);
  }
  return freed;
}

bool on_admit(uint64_t total, size_t bytes);
void on_watermark(uint64_t total) { pressure_wake_from_allocator(total); }
constinit const PressureHooks g_hooks = {&on_watermark, &on_admit};

void warn_line(const char* text) { os::write_stderr(text, strlen(text)); }

bool on_admit(uint64_t total, size_t bytes) {
  if (t_in_optimizer) return true;
  g_admit_calls.fetch_add(1, std::memory_order_relaxed);
  const uint64_t own = g_own_limit.load(std::memory_order_relaxed);
  if (!own || total + bytes <= own) {
    // The synchronous point of a resident limit (cgroup, physical): this thread frees memory
    // itself before going on, then the point moves one step on so the next run waits for growth.
    const uint64_t sync = g_sync_point.load(std::memory_order_relaxed);
    if (sync && total + bytes > sync) {
      // The point was computed from the monitor's last reading; memory memf does not count as
      // live (freed pages not yet returned, other allocators) moves the sources too. Read now.
      int64_t room = 0;
      if (pressure_sync_headroom(&room) && room > int64_t(bytes + step_of(sync))) {
        // Not there yet: look again halfway (see pressure.cpp, evaluate).
        g_sync_point.store(total + bytes + (uint64_t(room) / 2 > step_of(sync) ? uint64_t(room) / 2 : step_of(sync)),
                           std::memory_order_relaxed);
        apply_hard_limit();
        return true;
      }
      g_admit_sync.fetch_add(1, std::memory_order_relaxed);
      // As much as brings the source back below the moderate level's end: freeing only what this
      // allocation needs would keep the process at the brink, one step from the kernel's limit.
      uint64_t wanted = g_sync_wanted.load(std::memory_order_relaxed);
      if (wanted < total + bytes - sync + step_of(sync)) wanted = total + bytes - sync + step_of(sync);
      optimizer_run(kTriggerSync, kPressureCritical, wanted, true, true);
      uint64_t next = step_of(sync);
      if (pressure_sync_headroom(&room) && room / 2 > int64_t(next)) next = uint64_t(room) / 2;
      g_sync_point.store(running_total_bytes() + bytes + next, std::memory_order_relaxed);
      apply_hard_limit();
    }
    return true;
  }
  // memf's own limit. A program failing in a loop must not run the optimizer for every attempt.
  const uint64_t now = now_ns();
  uint64_t after = total;
  if (now - g_last_refusal_ns.load(std::memory_order_relaxed) > 10'000'000ull) {
    const OptimizerReport report =
        optimizer_run(kTriggerHardLimit, kPressureCritical, total + bytes - own + step_of(own) / 4, false, true);
    // The running total lags frees that sit in thread caches: count what the caches reported.
    const uint64_t evicted = report.steps[kStepEvictCaches].bytes;
    const uint64_t running = running_total_bytes();
    after = total > evicted ? total - evicted : 0;
    if (running < after) after = running;
    if (after + bytes <= own) return true;
  }
  if (optimizer_limit_action() == LimitAction::kFail) {
    g_last_refusal_ns.store(now, std::memory_order_relaxed);
    g_admit_refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  g_admit_warned.fetch_add(1, std::memory_order_relaxed);
  if (!g_over_own.exchange(true, std::memory_order_relaxed)) {
    char line[200];
    snprintf(line, sizeof line,
             "memf: warning: live bytes %llu + %zu pass the memory limit %llu; allowed (MEMF_LIMIT_ACTION=warn)\n",
             (unsigned long long)after, bytes, (unsigned long long)own);
    warn_line(line);
  }
  // Allowed: the next run waits for one more step of growth.
  g_warn_bump.store(after + bytes + step_of(own), std::memory_order_relaxed);
  apply_hard_limit();
  return true;
}

}  // namespace

const char* optimizer_step_name(int step) {
  static const char* const names[kOptimizerSteps] = {"drain caches", "purge slabs", "release mappings",
                                                     "mi_collect", "shrink pools", "evict caches", "return evicted"};
  return step >= 0 && step < kOptimizerSteps ? names[step] : "?";
}

OptimizerReport optimizer_run(int trigger, int level, uint64_t wanted, bool resident_counts, bool in_allocation) {
  OptimizerReport report{};
  for (int& o : report.order) o = -1;
  report.trigger = trigger;
  report.level = level;
  report.wanted = wanted;
  if (t_in_optimizer) return report;
  pthread_mutex_lock(&g_run_lock);
  t_in_optimizer = true;
  int ran = 0;
  auto run = [&](int step, auto&& body) {
    const uint64_t start = now_ns();
    StepRecord& record = report.steps[step];
    record.ran = true;
    body(record);
    record.ns = now_ns() - start;
    report.order[ran++] = step;
    g_totals[step] += record.bytes;
  };
  auto counted = [&](int step) { return step == kStepEvictCaches || resident_counts; };
  auto done = [&] { return report.freed >= wanted; };

  // 1. Cheapest: blocks parked in caches go back to their slabs, so that slabs can empty.
  run(kStepDrainCaches, [&](StepRecord& r) {
    thread_cache_flush_current();
    pressure_request_drain();
    r.blocks = central_flush_transfers();
    r.bytes = 0;
  });
  const struct {
    int step;
    uint64_t (*fn)();
  } cheap[] = {{kStepPurgeSlabs, purge_slabs},
               {kStepReleaseMappings, release_mappings},
               {kStepMiCollect, collect_mimalloc},
               {kStepShrinkPools, shrink_pools}};
  for (const auto& c : cheap) {
    if (done()) break;
    if (c.step == kStepShrinkPools && in_allocation) continue;
    run(c.step, [&](StepRecord& r) { r.bytes = c.fn(); });
    if (counted(c.step)) report.freed += report.steps[c.step].bytes;
  }
  if (!done()) {
    run(kStepEvictCaches, [&](StepRecord& r) {
      r.bytes = evict_caches(wanted - report.freed, &report.caches_called);
    });
    report.freed += report.steps[kStepEvictCaches].bytes;
    if (report.steps[kStepEvictCaches].bytes) {
      // What the caches freed sits in this thread's cache and the slabs: give it back.
      run(kStepReturnEvicted, [&](StepRecord& r) {
        thread_cache_flush_current();
        r.blocks = central_flush_transfers();
        r.bytes = purge_slabs() + release_mappings() + collect_mimalloc();
      });
    }
  }
  // Evicted memory freed by another thread than its allocator may not be reusable at once
  // (mimalloc hands it back to the owning thread later): the resident sources can keep growing
  // while memf's live bytes stay flat. Look at them again after one more step of growth.
  if (report.steps[kStepEvictCaches].bytes) {
    const uint64_t sync = g_sync_point.load(std::memory_order_relaxed);
    const uint64_t near = running_total_bytes() + step_of(sync);
    if (sync && near < sync) {
      g_sync_point.store(near, std::memory_order_relaxed);
      apply_hard_limit();
    }
  }
  // The last thing done: this thread's cache is empty again (an admit from a refill relies on
  // its bin being empty when it returns).
  thread_cache_flush_current();
  report.target_met = done();
  g_last = report;
  ++g_runs;
  t_in_optimizer = false;
  pthread_mutex_unlock(&g_run_lock);
  return report;
}

OptimizerReport optimizer_last_report() {
  pthread_mutex_lock(&g_run_lock);
  const OptimizerReport report = g_last;
  pthread_mutex_unlock(&g_run_lock);
  return report;
}

void optimizer_totals(uint64_t bytes[kOptimizerSteps], uint64_t* runs) {
  pthread_mutex_lock(&g_run_lock);
  for (int i = 0; i < kOptimizerSteps; ++i) bytes[i] = g_totals[i];
  if (runs) *runs = g_runs;
  pthread_mutex_unlock(&g_run_lock);
}

int cache_register(const char* name, size_t (*evict)(size_t, void*), void* ctx, int priority) {
  if (!evict) return -1;
  pthread_mutex_lock(&g_cache_lock);
  int id = -1;
  for (CacheEntry& entry : g_caches) {
    if (entry.id == 0) {
      id = g_next_cache_id++;
      if (g_next_cache_id <= 0) g_next_cache_id = 1;
      snprintf(entry.name, sizeof entry.name, "%s", name ? name : "");
      entry.evict = evict;
      entry.ctx = ctx;
      entry.priority = priority;
      entry.id = id;
      break;
    }
  }
  pthread_mutex_unlock(&g_cache_lock);
  return id;
}

bool cache_unregister(int id) {
  if (id <= 0) return false;
  pthread_mutex_lock(&g_cache_lock);
  bool found = false;
  for (CacheEntry& entry : g_caches) {
    if (entry.id == id) {
      entry = CacheEntry{};
      found = true;
    }
  }
  // An evict of this cache may be running on another thread: wait for it. From inside the
  // optimizer (evict unregistering, or its thread's allocation) waiting would never end.
  while (found && g_cache_inflight == id && !t_in_optimizer) pthread_cond_wait(&g_cache_cond, &g_cache_lock);
  pthread_mutex_unlock(&g_cache_lock);
  return found;
}

size_t registered_cache_count() {
  pthread_mutex_lock(&g_cache_lock);
  size_t count = 0;
  for (const CacheEntry& entry : g_caches)
    if (entry.id) ++count;
  pthread_mutex_unlock(&g_cache_lock);
  return count;
}

void optimizer_set_limit_action(LimitAction action) { g_action.store(int(action), std::memory_order_relaxed); }
LimitAction optimizer_limit_action() { return LimitAction(g_action.load(std::memory_order_relaxed)); }

bool parse_limit_action(const char* value, LimitAction* out) {
  if (!value) return true;
  if (strcmp(value, "fail") == 0) *out = LimitAction::kFail;
  else if (strcmp(value, "warn") == 0) *out = LimitAction::kWarn;
  else {
    char line[160];
    snprintf(line, sizeof line, "memf: warning: MEMF_LIMIT_ACTION=%.40s is not fail or warn; using warn\n", value);
    warn_line(line);
    *out = LimitAction::kWarn;
    return false;
  }
  return true;
}

namespace {
// A fork while another thread runs the optimizer must not leave the child with its locks held.
// A fork from inside the optimizer (an evict callback) already holds the run lock.
void fork_prepare() {
  if (!t_in_optimizer) pthread_mutex_lock(&g_run_lock);
  pthread_mutex_lock(&g_cache_lock);
}
void fork_parent() {
  pthread_mutex_unlock(&g_cache_lock);
  if (!t_in_optimizer) pthread_mutex_unlock(&g_run_lock);
}
void fork_child() {
  g_cache_lock = PTHREAD_MUTEX_INITIALIZER;
  g_cache_cond = PTHREAD_COND_INITIALIZER;
  g_cache_inflight = 0;
  if (!t_in_optimizer) g_run_lock = PTHREAD_MUTEX_INITIALIZER;
}
}  // namespace

void optimizer_install_hooks() {
  if (g_hooks_installed.exchange(true, std::memory_order_acq_rel)) return;
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  set_pressure_hooks(&g_hooks);
  optimizer_arm(memory_limit(), 0);
}

void optimizer_arm(uint64_t own_limit, uint64_t sync_point, uint64_t sync_wanted) {
  g_own_limit.store(own_limit, std::memory_order_relaxed);
  if (sync_point != UINT64_MAX) {
    g_sync_point.store(sync_point, std::memory_order_relaxed);
    g_sync_wanted.store(sync_wanted, std::memory_order_relaxed);
  }
  // An excursion past the own limit ends when the live bytes are back under it.
  if (g_over_own.load(std::memory_order_relaxed) && (!own_limit || running_total_bytes() <= own_limit))
    g_over_own.store(false, std::memory_order_relaxed);
  apply_hard_limit();
}

AdmitCounts optimizer_admit_counts() {
  return {g_admit_calls.load(), g_admit_refused.load(), g_admit_warned.load(), g_admit_sync.load()};
}

size_t fragmentation_by_class(ClassFragmentation* out, size_t capacity, uint64_t* empty_slab_bytes) {
  uint64_t slabs[kNumClasses] = {}, held[kNumClasses] = {}, empty = 0;
  if (g_pool.slabs) {
    const size_t touched = pool_slabs_touched();
    for (size_t i = 0; i < touched; ++i) {
      const SlabMeta& slab = g_pool.slabs[i];
      // Written under the class or arena lock; read here without: one byte and one word each.
      const SlabList list = __atomic_load_n(&slab.list, __ATOMIC_RELAXED);
      const unsigned cls = __atomic_load_n(&slab.size_class, __ATOMIC_RELAXED);
      if ((list == kSlabInUse || list == kSlabPartial) && cls < kNumClasses) {
        ++slabs[cls];
        held[cls] += __atomic_load_n(&slab.used, __ATOMIC_RELAXED);
      } else if (list == kSlabEmpty) {
        ++empty;
      }
    }
  }
  PoolUsage usage;
  thread_cache_usage(&usage);
  size_t count = 0;
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    if (!slabs[cls]) continue;
    if (count < capacity) {
      const uint64_t size = kSizeClasses[cls].size;
      const uint64_t live = usage.live[cls] > 0 ? uint64_t(usage.live[cls]) : 0;
      ClassFragmentation& f = out[count];
      f.block_size = uint32_t(size);
      f.slabs = uint32_t(slabs[cls]);
      f.committed_bytes = slabs[cls] * kSlabSize;
      f.used_bytes = live * size;
      f.cached_bytes = held[cls] > live ? (held[cls] - live) * size : 0;
      f.fragmentation = 1.0 - double(f.used_bytes) / double(f.committed_bytes);
      if (f.fragmentation < 0) f.fragmentation = 0;
    }
    ++count;
  }
  if (empty_slab_bytes) *empty_slab_bytes = empty * kSlabSize;
  return count;
}

namespace {
// After the environment is read (priority 101): the limit policy, the hooks, and the monitor
// when there is a limit to watch (memf's own or a cgroup's).
__attribute__((constructor(103))) void pressure_at_start() {
  LimitAction action = LimitAction::kWarn;
  parse_limit_action(getenv("MEMF_LIMIT_ACTION"), &action);
  optimizer_set_limit_action(action);
  optimizer_install_hooks();
  CgroupInfo cgroup;
  if (memory_limit() || (discover_cgroup("/", &cgroup) && cgroup.limit)) pressure_ensure_monitor();
}
}  // namespace

}  // namespace memf
