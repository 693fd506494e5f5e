/* memf's memory-pressure interface: levels, subscriptions, evictable caches, the optimizer.
 * See docs/pressure.md. Link with -lmemf or run under LD_PRELOAD=libmemf.so. */
#ifndef MEMF_PRESSURE_H
#define MEMF_PRESSURE_H

#include <stddef.h>
#include <stdint.h>

#include <memf/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Levels. Each limit memf finds gives a fraction used: its own (memf_set_limit / MEMF_LIMIT,
 * against memf's live bytes), the memory cgroup's and physical memory's (against resident
 * memory). The level follows the largest fraction: moderate from 0.75 of a limit, critical from
 * 0.90, each ending 0.05 below its start (MemoryOptimizer::setThresholds moves these); PSI
 * stalls can raise it further. A monitor thread evaluates it.
 *
 * MemoryTracker::isMemoryPressure() is the moderate threshold applied to memf's own limit alone,
 * on the exact usage now: true when a limit is set and current usage >= moderate * limit. It
 * starts no thread and has no hysteresis; memf_pressure_level() is the full picture. */
enum { MEMF_PRESSURE_NONE = 0, MEMF_PRESSURE_MODERATE = 1, MEMF_PRESSURE_CRITICAL = 2 };

/* The current level (starts the monitor thread on first use). */
MEMF_API int memf_pressure_level(void);

/* fn(level, ctx) runs on memf's monitor thread each time the level changes; never inside
 * malloc, never with an allocator lock held. Returns an id > 0, or -1 (no room, fn NULL). */
MEMF_API int memf_on_pressure(void (*fn)(int level, void* ctx), void* ctx);
/* After it returns, fn is not running and will not run again (called from fn itself: will not
 * run again). Returns 0, or -1 for an unknown id. */
MEMF_API int memf_off_pressure(int id);

/* A cache the optimizer may shrink under pressure: evict(bytes_wanted, ctx) frees about that
 * much and returns the bytes it freed. Lower priority is evicted first. evict may run on any
 * thread, also inside an allocation made by a thread that holds the cache's own lock: take that
 * lock with a try-lock and return 0 when it is busy. Returns an id > 0, or -1. */
MEMF_API int memf_cache_register(const char* name, size_t (*evict)(size_t bytes_wanted, void* ctx), void* ctx, int priority);
/* After it returns, evict is not running and will not be called again. 0, or -1 if unknown. */
MEMF_API int memf_cache_unregister(int id);

/* Runs the optimizer now until `bytes_wanted` bytes are freed (SIZE_MAX: every step, every
 * cache asked for everything); returns the bytes freed. */
MEMF_API size_t memf_optimize(size_t bytes_wanted);

/* What an allocation past memf_set_limit / MEMF_LIMIT does after the optimizer ran:
 * MEMF_LIMIT_WARN (default; one warning line per excursion) or MEMF_LIMIT_FAIL (NULL with
 * ENOMEM, std::bad_alloc). Returns 0, or -1 for another value. */
enum { MEMF_LIMIT_WARN = 0, MEMF_LIMIT_FAIL = 1 };
MEMF_API int memf_set_limit_action(int action);

typedef struct memf_pressure_info {
  int level;
  int limit_source;          /* 0 none, 1 memf's own limit, 2 cgroup, 3 physical memory */
  double fraction;           /* usage / limit of that source */
  uint64_t effective_limit;  /* smallest limit found; 0 = none */
  uint64_t own_limit, own_usage;
  uint64_t cgroup_limit, cgroup_usage;
  int cgroup_version;        /* 0 = no memory cgroup found */
  uint64_t physical_total, physical_available;
  double psi_some, psi_full; /* stall shares (0..1) */
  int psi_trigger;           /* 1: the kernel accepted a PSI trigger; 0: polled */
  uint64_t optimizer_runs;
  uint64_t freed_bytes[7];   /* per step since start: drain caches, purge slabs, release mappings,
                                mi_collect, shrink pools, evict caches, return evicted */
} memf_pressure_info;
/* Fills *info; 0, or -1 if info is NULL. */
MEMF_API int memf_pressure_info_get(memf_pressure_info* info);

/* Fragmentation of memf's pools, per size class with slabs: committed bytes (slabs assigned to
 * the class) against the bytes the program holds. */
typedef struct memf_class_fragmentation {
  uint32_t block_size;
  uint32_t slabs;             /* 64 KiB slabs assigned to the class */
  uint64_t committed_bytes;   /* slabs * 64 KiB */
  uint64_t used_bytes;        /* blocks with the program * block_size */
  uint64_t cached_bytes;      /* blocks out of their slabs but not with the program (thread
                                 caches, batches between threads) * block_size */
  double fragmentation;       /* 1 - used / committed */
} memf_class_fragmentation;
/* Fills up to capacity entries, classes with slabs only, smallest first; returns how many such
 * classes there are. *empty_slab_bytes (if not NULL): empty slabs still committed. Figures of
 * other threads lag their last few operations (see docs/tracker.md). */
MEMF_API size_t memf_fragmentation(memf_class_fragmentation* out, size_t capacity, uint64_t* empty_slab_bytes);

#ifdef __cplusplus
}
#endif

#endif
