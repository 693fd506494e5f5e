/* memf's C interface. Link with -lmemf (pkg-config memf) or run under LD_PRELOAD=libmemf.so. */
#ifndef MEMF_MEMF_H
#define MEMF_MEMF_H

#include <stddef.h>
#include <stdint.h>

#include <memf/export.h>
#include <memf/pressure.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct memf_stats {
  uint64_t current_bytes;         /* live now: pool blocks count their size class, others the bytes asked */
  uint64_t peak_bytes;            /* highest current_bytes seen (never below current_bytes) */
  uint64_t total_allocated_bytes; /* ever allocated */
  uint64_t total_freed_bytes;     /* ever freed */
  uint64_t allocations;           /* allocation calls that returned memory */
  uint64_t frees;                 /* blocks freed */
  uint64_t limit_bytes;           /* memf_set_limit / MEMF_LIMIT; 0 = none */
} memf_stats;

/* Fills *stats; returns 0, or -1 if stats is NULL. Exact but for other threads' last few
 * operations on each size class (see docs/tracker.md for the bound). */
MEMF_API int memf_get_stats(memf_stats* stats);

/* Allocations of the calling thread are counted under `name` until the matching pop
 * (scopes nest). Names longer than 47 bytes are cut; at most 253 names, later ones count
 * as "Unknown". */
MEMF_API void memf_category_push(const char* name);
MEMF_API void memf_category_pop(void);

/* Sets memf's own memory limit (MEMF_LIMIT until then); 0 removes it. The one way to set it:
 * MemoryTracker::setMemoryLimit and MemoryOptimizer::setMemoryLimit call this. It moves the
 * pressure levels (memf_pressure_level: moderate from 75% of a limit, critical from 90%, see
 * <memf/pressure.h>) and, with MEMF_LIMIT_FAIL, bounds what allocations may take. */
MEMF_API void memf_set_limit(size_t bytes);

/* Returns to the OS what memf can give back without touching live blocks: the calling thread's
 * cache, blocks parked between threads, empty pool slabs, cached huge mappings and mimalloc's
 * free pages. Returns the bytes given back by memf's own pools and mapping cache. */
MEMF_API size_t memf_release_memory(void);

/* Writes memf's allocator statistics (the MEMF_STATS=1 summary) to file descriptor fd, with
 * write(2), after flushing stdout (fd 1) or stderr (fd 2), so that it lands after what the
 * program printed before the call. */
MEMF_API void memf_print_stats(int fd);

/* Writes the leak report (JSON, as MEMF_REPORT) for the live blocks now; 0 on success,
 * -1 with errno set on failure. */
MEMF_API int memf_report_write(const char* path);

/* Defragmentation, for programs that can relocate their objects (as Redis does with jemalloc):
 * memf_defrag_hint(p) is 1 when p (a live block) sits in a slab sparser than its size class's
 * average, so moving it would help that slab empty; memf_defrag_move(p) then returns p's new
 * address (contents copied, p freed) or p itself when no better place exists. The caller
 * updates its references; p must not be in use by another thread meanwhile. */
MEMF_API int memf_defrag_hint(const void* p);
MEMF_API void* memf_defrag_move(void* p) __attribute__((warn_unused_result));

/* Shrinks every live application pool (MemoryPool, VariablePool: memf::shrinkAllPools); the
 * bytes given back. */
MEMF_API size_t memf_pools_shrink_all(void);

#ifdef __cplusplus
}
#endif

#endif
