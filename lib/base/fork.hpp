// fork(): the one set of handlers memf gives pthread_atfork. Every layer that has locks
// registers its handlers at its rank; before fork the prepare handlers run in rank order (each
// takes its layer's locks), after it the parent and child handlers run in the reverse order.
//
// The order is the lock order across layers: a lock that is ever held while another is taken
// comes first. The optimizer holds its run lock while its steps take pool and engine locks (and
// while evict callbacks do anything at all, the monitor's API included); the monitor holds its
// locks only around its own state and atexit/pthread_atfork (which may allocate); a pool holds
// its lock while it maps memory; the engine's locks are taken by every allocation; the tracker's
// and the stack depot's are leaves. The symbolizer's mutex is held while libdw allocates; its
// prepare handler only tries it (a symbolizer busy at fork is left behind by the child).
#pragma once

namespace memf {

enum ForkRank : unsigned {
  kForkSymbolizer = 0, // track: the symbolizer's mutex, tried, never waited for
  kForkOptimizer,      // pressure/optimizer: run lock, then the cache registry
  kForkMonitor,        // pressure/monitor: evaluation, state, sources
  kForkPools,          // pools: registry, each pool, the thread tables
  kForkEngine,         // engine: class locks, arena, large table and mapping cache, thread registry
  kForkStackDepot,     // track: the stack depot's insertion lock
  kForkUnwind,         // track: the spare unwind states' lock (stack_capture.cpp)
  kForkCategories,     // track: the category names' lock
  kForkProfile,        // track: the heap profile's site and snapshot locks
  kForkTimeline,       // track: the profile timeline's lock
  kForkDiagnostics,    // base: the child drops the copy of stderr (stderr_stream.hpp); no lock
  kForkRanks
};

struct ForkHandlers {
  void (*prepare)();  // takes the layer's locks
  void (*parent)();   // releases them
  void (*child)();    // resets them (the child has one thread: the one that forked)
};

// Installs handlers at rank (once per rank; later calls for a rank that has handlers do
// nothing). The first call registers memf's dispatchers with pthread_atfork.
void fork_register(ForkRank rank, const ForkHandlers& handlers);

}  // namespace memf
