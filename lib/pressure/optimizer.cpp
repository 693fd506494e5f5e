#include "optimizer.hpp"

#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <memf/memory_pool.hpp>

#include "accounting.hpp"
#include "cache_registry.hpp"
#include "compiler.hpp"
#include "fork.hpp"
#include "levels.hpp"
#include "os.hpp"
#include "proc_files.hpp"
#include "profile_timeline.hpp"
#include "release.hpp"
#include "sources.hpp"
#include "thread_cache.hpp"
#include "tracker.hpp"

namespace memf {

namespace {

// g_run_lock serialises optimizer runs (and guards g_last and the totals). Order: run -> the
// cache registry's lock.
constinit pthread_mutex_t g_run_lock = PTHREAD_MUTEX_INITIALIZER;
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

// The engine's release steps (engine/release.hpp), one optimizer step each; the bytes given back
// to the OS. mimalloc does not say what it returned: the resident set before and after does.
uint64_t release_step(ReleaseStep step, uint64_t* blocks = nullptr) {
  const uint64_t before = step == ReleaseStep::kCollectMimalloc ? resident_bytes() : 0;
  const ReleaseOutcome outcome = engine_release(step);
  if (blocks) *blocks = outcome.blocks;
  if (step != ReleaseStep::kCollectMimalloc) return outcome.bytes;
  const uint64_t after = resident_bytes();
  return before > after ? before - after : 0;
}
uint64_t purge_slabs() { return release_step(ReleaseStep::kPurgeSlabs); }
uint64_t release_mappings() { return release_step(ReleaseStep::kReleaseMappings); }
uint64_t collect_mimalloc() { return release_step(ReleaseStep::kCollectMimalloc); }
uint64_t shrink_pools() { return shrinkAllPools(); }

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
  const uint64_t now = os::monotonic_ns();
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
    const uint64_t start = os::monotonic_ns();
    StepRecord& record = report.steps[step];
    record.ran = true;
    body(record);
    record.ns = os::monotonic_ns() - start;
    report.order[ran++] = step;
    g_totals[step] += record.bytes;
  };
  auto counted = [&](int step) { return step == kStepEvictCaches || resident_counts; };
  auto done = [&] { return report.freed >= wanted; };

  // 1. Cheapest: blocks parked in caches go back to their slabs, so that slabs can empty.
  run(kStepDrainCaches, [&](StepRecord& r) {
    thread_cache_request_drain();  // other threads, on their next slow path
    r.bytes = release_step(ReleaseStep::kDrainCaches, &r.blocks);
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
        for (int step = 0; step < kReleaseSteps; ++step)
          r.bytes += release_step(ReleaseStep(step), step == int(ReleaseStep::kDrainCaches) ? &r.blocks : nullptr);
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
  if (report.freed || report.caches_called) {
    char detail[96];
    snprintf(detail, sizeof detail, "freed %.1f MiB of %.1f MiB wanted, %u caches called", double(report.freed) / 1048576.0,
             double(report.wanted) / 1048576.0, report.caches_called);
    timeline_event("optimizer", detail);
  }
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
  cache_registry_lock();
}
void fork_parent() {
  cache_registry_unlock();
  if (!t_in_optimizer) pthread_mutex_unlock(&g_run_lock);
}
void fork_child() {
  cache_registry_reset_after_fork();
  if (!t_in_optimizer) g_run_lock = PTHREAD_MUTEX_INITIALIZER;
}
}  // namespace

void optimizer_install_hooks() {
  if (g_hooks_installed.exchange(true, std::memory_order_acq_rel)) return;
  fork_register(kForkOptimizer, {fork_prepare, fork_parent, fork_child});
  set_admit_hook(on_admit);
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

}  // namespace memf
