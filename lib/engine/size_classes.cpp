#include "size_classes.hpp"

namespace memf {

unsigned aligned_size_to_class(size_t size, size_t alignment, size_t pool_limit) {
  size_t wanted = size > alignment ? size : alignment;
  if (wanted > pool_limit) return kNoClass;
  // Slabs start on kSlabSize boundaries, so a block is aligned to A when its size is a multiple of A.
  for (unsigned cls = size_to_class(wanted); cls < kNumClasses && kSizeClasses[cls].size <= pool_limit; ++cls) {
    if (kSizeClasses[cls].size % alignment == 0) return cls;
  }
  return kNoClass;
}

}  // namespace memf
