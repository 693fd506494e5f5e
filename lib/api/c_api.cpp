// The C interface of include/memf/memf.h.
#include <memf/memf.h>

#include <cerrno>

#include "engine.hpp"
#include "reporter.hpp"
#include "tracker.hpp"

#define MEMF_API extern "C" __attribute__((visibility("default")))

namespace memf {
// The leak checker's report writer (lib/leak_report.cpp); this weak fallback says it is absent.
__attribute__((weak)) int write_leak_report(const char*) {
  errno = ENOSYS;
  return -1;
}
}  // namespace memf

MEMF_API int memf_get_stats(memf_stats* stats) {
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

MEMF_API void memf_category_push(const char* name) { memf::category_push(name); }
MEMF_API void memf_category_pop(void) { memf::category_pop(); }
MEMF_API void memf_set_limit(size_t bytes) { memf::set_memory_limit(bytes); }
MEMF_API size_t memf_release_memory(void) { return memf::engine_release_memory(); }
MEMF_API void memf_print_stats(int fd) { memf::write_engine_stats(fd); }
MEMF_API int memf_report_write(const char* path) { return memf::write_leak_report(path); }
MEMF_API int memf_defrag_hint(const void* p) { return memf::engine_defrag_hint(p) ? 1 : 0; }
MEMF_API void* memf_defrag_move(void* p) { return memf::engine_defrag_move(p); }
