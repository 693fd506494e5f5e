// memf's own memory limit, set in one place: memf_set_limit, MemoryTracker::setMemoryLimit and
// MemoryOptimizer::setMemoryLimit all come here. The tracker keeps the value; the pressure
// monitor re-arms the hard limit and evaluates the levels again.
#pragma once
#include <cstddef>

namespace memf {

void apply_memory_limit(size_t bytes);

// MemoryTracker::isMemoryPressure: the moderate level's threshold applied to memf's own limit, on
// the usage now (include/memf/pressure.h states the relation to the levels).
bool own_limit_pressure();

}  // namespace memf
