#include "release.hpp"

#include <mimalloc.h>

#include "central.hpp"
#include "huge_regions.hpp"
#include "large.hpp"
#include "pool_arena.hpp"
#include "thread_cache.hpp"

namespace memf {

ReleaseOutcome engine_release(ReleaseStep step) {
  switch (step) {
    case ReleaseStep::kDrainCaches:
      thread_cache_flush_current();
      return {0, central_flush_transfers()};
    case ReleaseStep::kPurgeSlabs:
      // Memory is wanted back: no region populated ahead of the carving for a while.
      huge_region_pause();
      return {pool_purge_all(), 0};
    case ReleaseStep::kReleaseMappings:
      return {large_release_cache(), 0};
    case ReleaseStep::kCollectMimalloc:
      mi_collect(true);
      return {0, 0};
  }
  return {0, 0};
}

size_t engine_release_memory() {
  uint64_t released = 0;
  for (int step = 0; step < kReleaseSteps; ++step) released += engine_release(ReleaseStep(step)).bytes;
  return size_t(released);
}

size_t engine_purge_expired() { return pool_purge_expired(); }

}  // namespace memf
