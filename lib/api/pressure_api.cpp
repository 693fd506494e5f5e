// The C interface of include/memf/pressure.h.
#include <memf/pressure.h>

#include <cstdint>

#include "cache_registry.hpp"
#include "fragmentation.hpp"
#include "monitor.hpp"
#include "optimizer.hpp"
#include "size_classes.hpp"

int memf_pressure_level(void) { return memf::pressure_level(); }
int memf_on_pressure(void (*fn)(int, void*), void* ctx) { return memf::pressure_subscribe(fn, ctx); }
int memf_off_pressure(int id) { return memf::pressure_unsubscribe(id) ? 0 : -1; }

int memf_cache_register(const char* name, size_t (*evict)(size_t, void*), void* ctx, int priority) {
  memf::pressure_ensure_monitor();
  return memf::cache_register(name, evict, ctx, priority);
}
int memf_cache_unregister(int id) { return memf::cache_unregister(id) ? 0 : -1; }

size_t memf_optimize(size_t bytes_wanted) {
  memf::optimizer_install_hooks();
  const memf::OptimizerReport report =
      memf::optimizer_run(memf::kTriggerManual, memf::pressure_level(), bytes_wanted, true);
  return size_t(report.freed);
}

int memf_set_limit_action(int action) {
  if (action != MEMF_LIMIT_WARN && action != MEMF_LIMIT_FAIL) return -1;
  memf::optimizer_set_limit_action(action == MEMF_LIMIT_FAIL ? memf::LimitAction::kFail : memf::LimitAction::kWarn);
  memf::pressure_limit_changed();  // re-arms the hard limit under the new action
  return 0;
}

int memf_pressure_info_get(memf_pressure_info* info) {
  if (!info) return -1;
  const memf::PressureStatus s = memf::pressure_status();
  info->level = s.level;
  info->limit_source = s.limit_source;
  info->fraction = s.fraction;
  info->effective_limit = s.effective_limit;
  info->own_limit = s.own_limit;
  info->own_usage = s.own_usage;
  info->cgroup_limit = s.cgroup_limit;
  info->cgroup_usage = s.cgroup_usage;
  info->cgroup_version = s.cgroup_version;
  info->physical_total = s.physical_total;
  info->physical_available = s.physical_available;
  info->psi_some = s.psi_some;
  info->psi_full = s.psi_full;
  info->psi_trigger = s.psi_trigger ? 1 : 0;
  static_assert(sizeof info->freed_bytes / sizeof info->freed_bytes[0] == memf::kOptimizerSteps, "one figure per step");
  uint64_t totals[memf::kOptimizerSteps];
  memf::optimizer_totals(totals, &info->optimizer_runs);
  for (int i = 0; i < memf::kOptimizerSteps; ++i) info->freed_bytes[i] = totals[i];
  return 0;
}

size_t memf_fragmentation(memf_class_fragmentation* out, size_t capacity, uint64_t* empty_slab_bytes) {
  memf::ClassFragmentation figures[memf::kNumClasses];
  const size_t count = memf::fragmentation_by_class(figures, memf::kNumClasses, empty_slab_bytes);
  for (size_t i = 0; i < count && i < capacity && out; ++i)
    out[i] = {figures[i].block_size,    figures[i].slabs,        figures[i].committed_bytes,
              figures[i].used_bytes,    figures[i].cached_bytes, figures[i].fragmentation};
  return count;
}
