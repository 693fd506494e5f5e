// Giving memory back to the OS without touching live blocks, one step at a time. The optimizer
// (pressure/optimizer.cpp) runs the steps one by one, measuring each; memf_release_memory and
// malloc_trim run them all. Both call this, so there is one list of what can be released.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

enum class ReleaseStep : int {
  kDrainCaches,      // this thread's cache and the batches parked between threads go back to
                     // their slabs (other threads' caches: thread_cache_request_drain)
  kPurgeSlabs,       // empty slabs' pages go back to the OS
  kReleaseMappings,  // cached huge mappings are unmapped
  kCollectMimalloc,  // mimalloc returns its free pages
};
constexpr int kReleaseSteps = 4;

struct ReleaseOutcome {
  uint64_t bytes;   // returned to the OS by memf's own pools and mapping cache (0 for the
                    // drain, and for mimalloc, which does not say)
  uint64_t blocks;  // kDrainCaches: blocks moved back to their slabs
};
ReleaseOutcome engine_release(ReleaseStep step);

// Every step in order; the bytes returned by memf's pools and mapping cache.
size_t engine_release_memory();

// Decay, for a caller that runs periodically (the pressure monitor): the pages of slabs that have
// been empty for longer than MEMF_PURGE_DELAY go back to the OS; the bytes released. (The engine
// itself checks only when a slab empties, so a program that stopped freeing keeps them.)
size_t engine_purge_expired();

}  // namespace memf
