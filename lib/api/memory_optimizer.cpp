// memf::MemoryOptimizer (include/memf/pressure.hpp).
#include <memf/memf.h>
#include <memf/pressure.hpp>

#include <algorithm>

#include "limit.hpp"
#include "monitor.hpp"
#include "optimizer.hpp"
#include "size_classes.hpp"

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

MemoryOptimizer& MemoryOptimizer::getInstance() {
  static MemoryOptimizer instance;
  return instance;
}

PressureLevel MemoryOptimizer::getPressureLevel() const { return PressureLevel(pressure_level()); }

memf_pressure_info MemoryOptimizer::getPressureInfo() const {
  memf_pressure_info info;
  memf_pressure_info_get(&info);
  return info;
}

size_t MemoryOptimizer::getEffectiveLimit() const { return size_t(pressure_status().effective_limit); }

void MemoryOptimizer::setMemoryLimit(size_t bytes) { apply_memory_limit(bytes); }

void MemoryOptimizer::setLimitAction(LimitAction action) { memf_set_limit_action(int(action)); }

bool MemoryOptimizer::setThresholds(double moderate, double critical, double hysteresis) {
  LevelThresholds t = pressure_thresholds();
  t.moderate = moderate;
  t.critical = critical;
  t.hysteresis = hysteresis;
  return pressure_set_thresholds(t);
}

void MemoryOptimizer::setPollInterval(std::chrono::milliseconds interval) {
  pressure_set_interval_ms(interval.count() < 0 ? 0 : unsigned(interval.count() > 60000 ? 60000 : interval.count()));
}

OptimizationReport MemoryOptimizer::optimize(size_t bytesWanted) {
  optimizer_install_hooks();
  return to_report(optimizer_run(kTriggerManual, pressure_level(), bytesWanted, true));
}

OptimizationReport MemoryOptimizer::getLastReport() const { return to_report(optimizer_last_report()); }

size_t MemoryOptimizer::releaseMemory() { return memf_release_memory(); }

std::vector<memf_class_fragmentation> MemoryOptimizer::getFragmentation() const {
  std::vector<memf_class_fragmentation> out(kNumClasses);
  out.resize(std::min(memf_fragmentation(out.data(), out.size(), nullptr), out.size()));
  return out;
}

}  // namespace memf
