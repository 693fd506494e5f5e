#include "fragmentation.hpp"

#include "pool_arena.hpp"
#include "thread_cache.hpp"

namespace memf {

size_t fragmentation_by_class(ClassFragmentation* out, size_t capacity, uint64_t* empty_slab_bytes) {
  uint64_t slabs[kNumClasses] = {}, held[kNumClasses] = {}, empty = 0;
  if (g_pool.slabs) {
    const size_t touched = pool_slabs_touched();
    for (size_t i = 0; i < touched; ++i) {
      const SlabMeta& slab = g_pool.slabs[i];
      // Written under the class or arena lock; read here without: one byte and one word each.
      const uint8_t list = __atomic_load_n(&slab.list, __ATOMIC_RELAXED);
      const unsigned cls = __atomic_load_n(&slab.size_class, __ATOMIC_RELAXED);
      if ((list == kSlabFull || list == kSlabPartial) && cls < kNumClasses) {
        ++slabs[cls];
        held[cls] += __atomic_load_n(&slab.used, __ATOMIC_RELAXED);
      } else if (list == kSlabEmpty) {
        ++empty;
      }
    }
  }
  PoolUsage usage;
  thread_cache_usage(&usage);
  size_t count = 0;
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    if (!slabs[cls]) continue;
    if (count < capacity) {
      const uint64_t size = kSizeClasses[cls].size;
      const uint64_t live = usage.live[cls] > 0 ? uint64_t(usage.live[cls]) : 0;
      ClassFragmentation& f = out[count];
      f.block_size = uint32_t(size);
      f.slabs = uint32_t(slabs[cls]);
      f.committed_bytes = slabs[cls] * kSlabSize;
      f.used_bytes = live * size;
      f.cached_bytes = held[cls] > live ? (held[cls] - live) * size : 0;
      f.fragmentation = 1.0 - double(f.used_bytes) / double(f.committed_bytes);
      if (f.fragmentation < 0) f.fragmentation = 0;
    }
    ++count;
  }
  if (empty_slab_bytes) *empty_slab_bytes = empty * kSlabSize;
  return count;
}

}  // namespace memf
