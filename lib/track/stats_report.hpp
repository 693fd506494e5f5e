// The MEMF_STATS=1 summary, written at exit (registered by a constructor: base/init_order.hpp) or
// on request (memf_print_stats). Formats into fixed buffers only.
#pragma once

namespace memf {

// The MEMF_STATS=1 summary: pools, large blocks, the mapping cache.
void write_engine_stats(int fd);

}  // namespace memf
