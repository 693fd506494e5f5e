// The C interface of include/memf/memf.h.
#include <unistd.h>

#include <cstdio>

#include <memf/memf.h>
#include <memf/memory_pool.hpp>

#include "defrag.hpp"
#include "exit_check.hpp"
#include "limit.hpp"
#include "release.hpp"
#include "stats_report.hpp"
#include "tracker.hpp"

int memf_get_stats(memf_stats* stats) {
  if (!stats) return -1;
  const memf::ProcessStats figures = memf::process_stats();
  stats->current_bytes = figures.current_bytes;
  stats->peak_bytes = figures.peak_bytes;
  stats->total_allocated_bytes = figures.total_allocated_bytes;
  stats->total_freed_bytes = figures.total_freed_bytes;
  stats->allocations = figures.allocations;
  stats->frees = figures.frees;
  stats->limit_bytes = figures.limit_bytes;
  return 0;
}

void memf_category_push(const char* name) { memf::category_push(name); }
void memf_category_pop(void) { memf::category_pop(); }
void memf_set_limit(size_t bytes) { memf::apply_memory_limit(bytes); }
size_t memf_release_memory(void) { return memf::engine_release_memory(); }
void memf_print_stats(int fd) {
  // The program's own output buffered for the same descriptor goes first.
  if (fd == STDOUT_FILENO) fflush(stdout);
  if (fd == STDERR_FILENO) fflush(stderr);
  memf::write_engine_stats(fd);
}
int memf_report_write(const char* path) { return memf::write_leak_report(path); }
int memf_defrag_hint(const void* p) { return memf::engine_defrag_hint(p) ? 1 : 0; }
void* memf_defrag_move(void* p) { return memf::engine_defrag_move(p); }
size_t memf_pools_shrink_all(void) { return memf::shrinkAllPools(); }
