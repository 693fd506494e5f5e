// The C interface of include/memf/pressure.h and the MemoryOptimizer of include/memf/pressure.hpp.
#include <memf/pressure.h>
#include <memf/pressure.hpp>

#include <algorithm>
#include <cstdint>

#include "optimizer.hpp"
#include "size_classes.hpp"
#include "pressure.hpp"
#include "tracker.hpp"

#define MEMF_API extern "C" __attribute__((visibility("default")))
#define MEMF_API_CXX __attribute__((visibility("default")))

MEMF_API int memf_pressure_level(void) { return memf::pressure_level(); }
MEMF_API int memf_on_pressure(void (*fn)(int, void*), void* ctx) { return memf::pressure_subscribe(fn, ctx); }
MEMF_API int memf_off_pressure(int id) { return memf::pressure_unsubscribe(id) ? 0 : -1; }

MEMF_API int memf_cache_register(const char* name, size_t (*evict)(size_t, void*), void* ctx, int priority) {
  memf::pressure_ensure_monitor();
  return memf::cache_register(name, evict, ctx, priority);
}
MEMF_API int memf_cache_unregister(int id) { return memf::cache_unregister(id) ? 0 : -1; }

MEMF_API size_t memf_optimize(size_t bytes_wanted) {
  memf::optimizer_install_hooks();
  const memf::OptimizerReport report =
      memf::optimizer_run(memf::kTriggerManual, memf::pressure_level(), bytes_wanted, true);
  return size_t(report.freed);
}

MEMF_API int memf_set_limit_action(int action) {
  if (action != MEMF_LIMIT_WARN && action != MEMF_LIMIT_FAIL) return -1;
  memf::optimizer_set_limit_action(action == MEMF_LIMIT_FAIL ? memf::LimitAction::kFail : memf::LimitAction::kWarn);
  memf::pressure_limit_changed();
  return 0;
}

MEMF_API int memf_pressure_info_get(memf_pressure_info* info) {
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

MEMF_API size_t memf_fragmentation(memf_class_fragmentation* out, size_t capacity, uint64_t* empty_slab_bytes) {
  memf::ClassFragmentation figures[memf::kNumClasses];
  const size_t count = memf::fragmentation_by_class(figures, memf::kNumClasses, empty_slab_bytes);
  for (size_t i = 0; i < count && i < capacity && out; ++i)
    out[i] = {figures[i].block_size,    figures[i].slabs,        figures[i].committed_bytes,
              figures[i].used_bytes,    figures[i].cached_bytes, figures[i].fragmentation};
  return count;
}

namespace memf {

namespace {
OptimizationReport to_report(const OptimizerReport& r) {
  OptimizationReport out{PressureLevel(r.level), size_t(r.wanted), size_t(r.freed), r.target_met, r.caches_called, {}};
  for (int step : r.order) {
    if (step < 0) break;
    const StepRecord& s = r.steps[step];
    out.steps.push_back({optimizer_step_name(step), size_t(s.bytes), size_t(s.blocks), std::chrono::nanoseconds(s.ns)});
  }
  return out;
}
}  // namespace

MEMF_API_CXX MemoryOptimizer& MemoryOptimizer::getInstance() {
  static MemoryOptimizer instance;
  return instance;
}

MEMF_API_CXX PressureLevel MemoryOptimizer::getPressureLevel() const { return PressureLevel(pressure_level()); }

MEMF_API_CXX memf_pressure_info MemoryOptimizer::getPressureInfo() const {
  memf_pressure_info info;
  memf_pressure_info_get(&info);
  return info;
}

MEMF_API_CXX size_t MemoryOptimizer::getEffectiveLimit() const { return size_t(pressure_status().effective_limit); }

MEMF_API_CXX void MemoryOptimizer::setMemoryLimit(size_t bytes) {
  set_memory_limit(bytes);
  pressure_limit_changed();
}

MEMF_API_CXX void MemoryOptimizer::setLimitAction(LimitAction action) { memf_set_limit_action(int(action)); }

MEMF_API_CXX bool MemoryOptimizer::setThresholds(double moderate, double critical, double hysteresis) {
  LevelThresholds t = pressure_thresholds();
  t.moderate = moderate;
  t.critical = critical;
  t.hysteresis = hysteresis;
  return pressure_set_thresholds(t);
}

MEMF_API_CXX void MemoryOptimizer::setPollInterval(std::chrono::milliseconds interval) {
  pressure_set_interval_ms(interval.count() < 0 ? 0 : unsigned(interval.count() > 60000 ? 60000 : interval.count()));
}

MEMF_API_CXX OptimizationReport MemoryOptimizer::optimize(size_t bytesWanted) {
  optimizer_install_hooks();
  return to_report(optimizer_run(kTriggerManual, pressure_level(), bytesWanted, true));
}

MEMF_API_CXX OptimizationReport MemoryOptimizer::getLastReport() const { return to_report(optimizer_last_report()); }

MEMF_API_CXX size_t MemoryOptimizer::releaseMemory() { return memf_release_memory(); }

}  // namespace memf

namespace memf {
MEMF_API_CXX std::vector<memf_class_fragmentation> MemoryOptimizer::getFragmentation() const {
  std::vector<memf_class_fragmentation> out(kNumClasses);
  out.resize(std::min(memf_fragmentation(out.data(), out.size(), nullptr), out.size()));
  return out;
}
}  // namespace memf
