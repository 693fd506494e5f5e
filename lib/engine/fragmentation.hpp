// Fragmentation of the pools, per size class: committed slabs against the bytes the program
// holds (memf_fragmentation). A statistic: slab records are read without their locks.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

// Per class with slabs, smallest first.
struct ClassFragmentation {
  uint32_t block_size, slabs;
  uint64_t committed_bytes, used_bytes, cached_bytes;
  double fragmentation;
};
size_t fragmentation_by_class(ClassFragmentation* out, size_t capacity, uint64_t* empty_slab_bytes);

}  // namespace memf
