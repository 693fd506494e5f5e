// The address space of a memf pool: the blocks' range, cut into slabs (or chunks, or units), one
// state byte per granule of it, and one record per slab. Three reservations apart from each other
// (address space only: pages are committed when touched), so that the program's writes into
// blocks never reach the metadata, and "is p in the pool" is one subtraction and one compare.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

struct PoolShape {
  size_t max_bytes;        // the range tried first
  size_t min_bytes;        // smallest range worth having
  unsigned shrink_shift;   // each further try is 2^shrink_shift times smaller
  unsigned slab_shift;     // slab size: the range starts on a slab boundary, records are per slab
  unsigned granule_shift;  // bytes per state byte
  size_t record_bytes;     // bytes per slab record
};

struct PoolReservation {
  char* base = nullptr;  // the blocks: [base, base + bytes), slab-aligned
  size_t bytes = 0;      // slabs << slab_shift
  size_t slabs = 0;
  uint8_t* states = nullptr;  // bytes >> granule_shift state bytes
  size_t states_bytes = 0;
  void* records = nullptr;    // slabs records
  size_t records_bytes = 0;
  void* mapping = nullptr;    // the blocks' reservation as made (with its alignment slack)
  size_t mapping_bytes = 0;
};

// The largest range the system grants from shape.max_bytes down to shape.min_bytes, with its
// states and records; false (nothing reserved) when not even the smallest fits.
bool reserve_pool_range(const PoolShape& shape, PoolReservation* out);
void release_pool_range(const PoolReservation& range);

}  // namespace memf
