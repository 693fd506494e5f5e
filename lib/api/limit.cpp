#include "limit.hpp"

#include "monitor.hpp"
#include "tracker.hpp"

namespace memf {

void apply_memory_limit(size_t bytes) {
  set_memory_limit(bytes);
  pressure_limit_changed();
}

bool own_limit_pressure() {
  const uint64_t limit = memory_limit();
  if (limit == 0) return false;
  return double(process_stats().current_bytes) >= pressure_thresholds().moderate * double(limit);
}

}  // namespace memf
