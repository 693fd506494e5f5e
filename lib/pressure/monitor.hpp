// The pressure monitor: a thread that reads every limit's usage (memf's own, the cgroup's,
// physical memory), moves the level (levels.hpp), tells the subscribers, and runs the optimizer
// when the level rises or the usage keeps growing at a level. The allocation path only compares
// memf's running total with a watermark the monitor sets (engine/accounting.hpp), which wakes it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "levels.hpp"

namespace memf {

enum LimitSource : int { kSourceNone = 0, kSourceOwn = 1, kSourceCgroup = 2, kSourcePhysical = 3 };

struct PressureStatus {
  int level;
  int limit_source;          // the source with the largest fraction
  double fraction;           // its usage / limit
  uint64_t effective_limit;  // the smallest limit of all sources (0 = none found)
  uint64_t own_limit, own_usage;
  uint64_t cgroup_limit, cgroup_usage;
  int cgroup_version;
  uint64_t physical_total, physical_available;
  double psi_some, psi_full;  // shares over the last interval (or avg10)
  bool psi_trigger;           // a PSI trigger was accepted (else polling)
  uint64_t watermark;         // memf live bytes at which the monitor is woken
  uint64_t sync_point;        // memf live bytes at which allocations run the optimizer themselves
  uint64_t evaluations;
  uint64_t wakeups;           // by the allocation-path watermark
  uint64_t level_changes;
};
PressureStatus pressure_status();

// Starts the monitor if it is not running in this process (first use, or first use in a forked
// child). Safe to call often.
void pressure_ensure_monitor();
// The current level (starts the monitor).
int pressure_level();
// Evaluates now on the monitor thread and waits for it (tests, after changing a limit).
void pressure_poke_and_wait();
// The own limit changed (memf_set_limit / setMemoryLimit): re-arms the hard limit and wakes the
// monitor.
void pressure_limit_changed();

bool pressure_set_thresholds(const LevelThresholds& t);
LevelThresholds pressure_thresholds();
void pressure_set_interval_ms(unsigned ms);  // monitor poll interval (default 100; 10..60000)
// Discovery root for the next evaluations (tests); nullptr restores "/".
void pressure_set_root(const char* root);

// Subscriptions: fn(level, ctx) runs on the monitor thread whenever the level changes. Returns an
// id > 0, or -1 when the table (64 entries) is full or fn is null.
int pressure_subscribe(void (*fn)(int level, void* ctx), void* ctx);
// After this returns the callback is not running and will not run again, unless called from the
// callback itself (then it just will not run again). False for an unknown id.
bool pressure_unsubscribe(int id);

// Stops the monitor (at exit; also used by tests). Later API calls restart it.
void pressure_stop_monitor();

}  // namespace memf
