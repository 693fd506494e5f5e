#include "pool_range.hpp"

#include "compiler.hpp"
#include "os.hpp"

namespace memf {

bool reserve_pool_range(const PoolShape& shape, PoolReservation* out) {
  const size_t slab = size_t(1) << shape.slab_shift;
  for (size_t bytes = shape.max_bytes; bytes >= shape.min_bytes && bytes > slab; bytes >>= shape.shrink_shift) {
    PoolReservation r;
    r.mapping_bytes = bytes;
    r.mapping = os::reserve(bytes);
    if (!r.mapping) continue;
    // Slab-aligned, so that a block's slab is a plain shift of its offset.
    r.base = reinterpret_cast<char*>(round_up(uintptr_t(r.mapping), slab));
    r.slabs = (bytes - size_t(r.base - static_cast<char*>(r.mapping))) >> shape.slab_shift;
    r.bytes = r.slabs << shape.slab_shift;
    r.states_bytes = round_up(r.bytes >> shape.granule_shift, kPageSize);
    r.records_bytes = round_up(r.slabs * shape.record_bytes, kPageSize);
    r.states = static_cast<uint8_t*>(os::reserve(r.states_bytes));
    r.records = r.states ? os::reserve(r.records_bytes) : nullptr;
    if (r.records) {
      *out = r;
      return true;
    }
    if (r.states) os::unmap(r.states, r.states_bytes);
    os::unmap(r.mapping, r.mapping_bytes);
    if (shape.shrink_shift == 0) break;
  }
  return false;
}

void release_pool_range(const PoolReservation& range) {
  if (!range.mapping) return;
  os::unmap(range.mapping, range.mapping_bytes);
  os::unmap(range.states, range.states_bytes);
  os::unmap(range.records, range.records_bytes);
}

}  // namespace memf
