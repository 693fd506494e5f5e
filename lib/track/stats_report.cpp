#include "stats_report.hpp"

#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

#include "central.hpp"
#include "config.hpp"
#include "huge_regions.hpp"
#include "init_order.hpp"
#include "large.hpp"
#include "pool_arena.hpp"
#include "stderr_stream.hpp"
#include "thread_cache.hpp"
#include "tracker.hpp"

namespace memf {
namespace {

class LineWriter {
 public:
  explicit LineWriter(int fd) : fd_(fd) {}
  template <typename... Args>
  void line(fmt::format_string<Args...> format, Args&&... args) {
    auto result = fmt::format_to_n(buffer_, sizeof(buffer_) - 1, format, std::forward<Args>(args)...);
    size_t length = result.size < sizeof(buffer_) - 1 ? result.size : sizeof(buffer_) - 1;
    buffer_[length++] = '\n';
    const char* cursor = buffer_;
    while (length > 0) {
      ssize_t written = write(fd_, cursor, length);
      if (written <= 0) return;
      cursor += written;
      length -= size_t(written);
    }
  }

 private:
  int fd_;
  char buffer_[256];
};

double mib(size_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

}  // namespace

void write_engine_stats(int fd) {
  LineWriter out(fd);
  PoolArenaStats arena = pool_arena_stats();
  LargeStats large = large_stats();
  size_t transfer_blocks = 0, transfer_bytes = 0, partial_slabs = 0;
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    CentralClassStats central = central_stats(cls);
    transfer_blocks += central.transfer_blocks;
    transfer_bytes += central.transfer_blocks * kSizeClasses[cls].size;
    partial_slabs += central.partial_slabs;
  }
  ProcessStats totals = process_stats();
  out.line("memf: stats for pid {}", getpid());
  out.line("memf:   usage: {:.1f} MiB now, {:.1f} MiB peak; {} allocations ({:.1f} MiB), {} frees ({:.1f} MiB)",
           mib(totals.current_bytes), mib(totals.peak_bytes), totals.allocations, mib(totals.total_allocated_bytes),
           totals.frees, mib(totals.total_freed_bytes));
  CategoryUsage categories[kMaxCategories];
  const size_t category_count = category_snapshot(categories, kMaxCategories);
  if (category_count > 1) {
    for (size_t i = 0; i < category_count && i < kMaxCategories; ++i)
      out.line("memf:   category {:<24} {:>10.1f} KiB now, {:>10.1f} KiB peak, {} allocations", categories[i].name,
               double(categories[i].current_bytes) / 1024.0, double(categories[i].peak_bytes) / 1024.0,
               categories[i].allocations);
  }
  out.line("memf:   pools: {} slabs in use ({:.1f} MiB, {} partly free), {} empty and committed, {} returned to the OS",
           arena.slabs_in_use, mib(arena.slabs_in_use * kSlabSize), partial_slabs, arena.slabs_empty,
           arena.slabs_purged);
  const HugeRegionProbe regions = huge_region_stats();
  if (regions.regions)
    out.line("memf:   pool huge-page regions: {} populated, {} of them slow", regions.regions, regions.slow_regions);
  out.line("memf:   blocks parked between threads: {} ({:.1f} MiB); live thread caches: {}", transfer_blocks,
           mib(transfer_bytes), thread_cache_live_count());
  out.line("memf:   large blocks live: {} ({:.1f} MiB requested)", large.live_blocks, mib(large.live_bytes));
  out.line("memf:   huge mapping cache: {} mappings ({:.1f} MiB), {} reuses, {} fresh mappings", large.cached_mappings,
           mib(large.cached_bytes), large.mapping_cache_hits, large.mapping_cache_misses);
}

namespace {
// To stderr as it was at start (base/stderr_stream.hpp): not into a file the program opened on a
// closed fd 2, and still there after the program closed stderr itself.
void print_stats_at_exit() {
  if (const int fd = stderr_stream_fd(); fd >= 0) write_engine_stats(fd);
}
__attribute__((constructor(MEMF_INIT_STATS))) void register_stats_at_exit() {
  if (config().stats) atexit(print_stats_at_exit);
}
}  // namespace

}  // namespace memf
