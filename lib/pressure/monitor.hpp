// Memory pressure: where the limit is, how close the process is to it, and who is told.
//
// Sources of a limit: memf's own (MEMF_LIMIT / memf_set_limit, counted in memf's live bytes), the
// memory cgroup (v2 memory.max/memory.high, v1 memory.limit_in_bytes, counted in the cgroup's
// usage less its inactive page cache) and physical memory (MemTotal - MemAvailable). Each gives
// a fraction used; the level follows the largest fraction with hysteresis, raised further by PSI
// stalls. The allocation path only compares memf's running total with a watermark (tracker.hpp);
// everything else happens on the monitor thread, which also delivers the subscriptions.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

enum LevelValue : int { kPressureNone = 0, kPressureModerate = 1, kPressureCritical = 2 };

// Fractions of a limit at which the levels start; a level ends when its source falls
// `hysteresis` below the level's start. PSI: the share of wall time with some (moderate) or all
// (critical) tasks stalled on memory, over the last poll interval or avg10, whichever is higher.
struct LevelThresholds {
  double moderate = 0.75;
  double critical = 0.90;
  double hysteresis = 0.05;
  double psi_some = 0.10;
  double psi_full = 0.10;
};
bool thresholds_valid(const LevelThresholds& t);

// The level after `current` for a fraction used (the state machine the monitor runs).
int next_level(int current, double fraction, const LevelThresholds& t);
// The same for PSI stall shares: a level ends when its share is below half its threshold.
int next_psi_level(int current, double some, double full, const LevelThresholds& t);

// --- discovery (root is "/" normally; tests point it at a fake tree) ---

struct CgroupInfo {
  int version = 0;          // 0: no memory cgroup found, 1 or 2
  uint64_t limit = 0;       // the binding limit (the lowest headroom among the cgroup and its ancestors); 0 = none
  uint64_t usage = 0;       // that cgroup's usage less its inactive file cache
  uint64_t raw_usage = 0;   // memory.current / memory.usage_in_bytes as read
  char path[512] = {};      // directory of the cgroup that holds the binding limit
};
// Finds this process's memory cgroup through root/proc/self/cgroup and root/proc/self/mountinfo
// (or the conventional mount points when mountinfo names none). False when none is found.
bool discover_cgroup(const char* root, CgroupInfo* out);
// Re-reads limit and usage of the directory discover_cgroup found (cheap: three small files).
bool refresh_cgroup(CgroupInfo* info);

// root/proc/meminfo: MemTotal and MemAvailable in bytes. False when unreadable.
bool read_meminfo(const char* root, uint64_t* total, uint64_t* available);

struct PsiSample {
  double some_avg10 = 0, full_avg10 = 0;  // shares (0..1)
  uint64_t some_total_us = 0, full_total_us = 0;
};
bool read_psi(const char* path, PsiSample* out);

// Reads the whole small file into buf (NUL-terminated); bytes read or -1. No allocation.
long read_small_file(const char* path, char* buf, size_t capacity);

// --- the monitor ---

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

// The resident sources' (cgroup, physical memory) smallest headroom, read now, to the point where
// allocations run the optimizer themselves: negative when past it. False when there is no such
// source. Reads two or three small files; takes only a leaf lock.
bool pressure_sync_headroom(int64_t* headroom);

// --- draining other threads' caches on request ---
// The optimizer bumps the epoch; a thread that sees a newer epoch on its next slow path flushes
// its cache. The engine's slow path calls pressure_drain_requested() (one load and one compare).
void pressure_request_drain();
bool pressure_drain_requested();

}  // namespace memf
