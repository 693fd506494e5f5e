// Human-readable summaries written at exit or on request. Formats into fixed buffers only.
#pragma once

namespace memf {

// The MEMF_STATS=1 summary: pools, large blocks, the mapping cache.
void write_engine_stats(int fd);

}  // namespace memf
