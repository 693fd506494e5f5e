#include "malloc_info.hpp"

#include <climits>

#include "large.hpp"
#include "pool_arena.hpp"
#include "tracker.hpp"

namespace memf {

MallinfoSizes malloc_info_sizes() {
  const ProcessStats totals = process_stats();
  const PoolArenaStats arena = pool_arena_stats();
  const LargeStats large = large_stats();
  MallinfoSizes info{};
  info.arena = (arena.slabs_in_use + arena.slabs_empty) * kSlabSize;
  info.hblks = large.live_blocks;
  info.hblkhd = large.live_bytes;
  const size_t pool_live = totals.current_bytes > large.live_bytes ? totals.current_bytes - large.live_bytes : 0;
  info.uordblks = pool_live;
  info.fordblks = info.arena > pool_live ? info.arena - pool_live : 0;
  info.keepcost = arena.slabs_empty * kSlabSize;
  return info;
}

MallinfoInts malloc_info_ints() {
  const MallinfoSizes s = malloc_info_sizes();
  const auto clamp = [](size_t v) { return v > size_t(INT_MAX) ? INT_MAX : int(v); };
  return {clamp(s.arena), clamp(s.ordblks), clamp(s.smblks), clamp(s.hblks), clamp(s.hblkhd),
          clamp(s.usmblks), clamp(s.fsmblks), clamp(s.uordblks), clamp(s.fordblks), clamp(s.keepcost)};
}

}  // namespace memf
