// The optimizer: what memf does to free memory, in order of cost, recording what each step freed.
//
//   1. drain caches    this thread's cache and the batches parked between threads go back to
//                      their slabs; other threads are asked to drain on their next slow path
//   2. purge slabs     empty slabs' pages go back to the OS
//   3. release maps    cached huge mappings are unmapped
//   4. mi_collect      mimalloc returns its free pages
//                      (steps 1-4 are the engine's, engine/release.hpp)
//   5. shrink pools    application pools (MemoryPool, VariablePool) give back empty chunks;
//                      not when the optimizer runs inside an allocation (a pool's lock may be
//                      held by the allocating thread)
//   6. evict caches    registered caches (cache_registry.hpp), lowest priority first, until the
//                      target is met
//   7. return evicted  what the caches freed goes back to the OS (steps 1-4 again)
//
// Steps 1-5 lower the process's resident memory but not memf's live bytes; only step 5 lowers
// those. The target therefore counts steps 1-5 only when the limit in question is measured in
// resident memory (cgroup, physical), not for memf's own limit.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

enum OptimizerStep : int {
  kStepDrainCaches = 0,
  kStepPurgeSlabs,
  kStepReleaseMappings,
  kStepMiCollect,
  kStepShrinkPools,
  kStepEvictCaches,
  kStepReturnEvicted,
  kOptimizerSteps
};
const char* optimizer_step_name(int step);

struct StepRecord {
  bool ran;
  uint64_t bytes;  // freed: returned to the OS (steps 2-5, 7) or reported by caches (6); 0 for 1
  uint64_t blocks; // step 1: blocks moved back to their slabs
  uint64_t ns;
};

enum OptimizerTrigger : int { kTriggerManual = 0, kTriggerLevel, kTriggerGrowth, kTriggerHardLimit, kTriggerSync };

struct OptimizerReport {
  int trigger;
  int level;
  uint64_t wanted;     // target, in bytes
  uint64_t freed;      // counted toward the target
  bool target_met;
  unsigned caches_called;
  StepRecord steps[kOptimizerSteps];
  int order[kOptimizerSteps];  // steps in the order they ran, -1 after the last
};

// Runs the steps in order until `wanted` bytes are freed (steps 1-5 count only if resident_counts).
// in_allocation: called from the allocator's admit hook (pools are not shrunk then).
// Concurrent calls run one after the other; a call from inside a running optimizer (an evict
// callback allocating) returns an empty report.
OptimizerReport optimizer_run(int trigger, int level, uint64_t wanted, bool resident_counts, bool in_allocation = false);
OptimizerReport optimizer_last_report();
// Totals since start, per step.
void optimizer_totals(uint64_t bytes[kOptimizerSteps], uint64_t* runs);

// What happens when an allocation would pass memf's own limit after the optimizer ran.
enum class LimitAction : int { kWarn = 0, kFail = 1 };
void optimizer_set_limit_action(LimitAction action);
LimitAction optimizer_limit_action();
// Parses MEMF_LIMIT_ACTION (one warning line on a bad value); true if the value was valid or unset.
bool parse_limit_action(const char* value, LimitAction* out);

// Installs the allocation path's admit hook (engine/accounting.hpp) and the fork handlers
// (idempotent).
void optimizer_install_hooks();
// Sets the engine's hard limit from memf's own limit and the synchronous point the monitor computed
// (UINT64_MAX: keep the current one); sync_wanted is what a run at that point is to free.
void optimizer_arm(uint64_t own_limit, uint64_t sync_point, uint64_t sync_wanted = 0);
// Counts of admit outcomes since start.
struct AdmitCounts {
  uint64_t calls, refused, warned, sync_runs;
};
AdmitCounts optimizer_admit_counts();

}  // namespace memf
