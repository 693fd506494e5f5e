#include "reporter.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "central.hpp"
#include "large.hpp"
#include "platform.hpp"
#include "pool_arena.hpp"
#include "thread_cache.hpp"

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
  out.line("memf: stats for pid {}", getpid());
  out.line("memf:   pools: {} slabs in use ({:.1f} MiB, {} partly free), {} empty and committed, {} returned to the OS",
           arena.slabs_in_use, mib(arena.slabs_in_use * kSlabSize), partial_slabs, arena.slabs_empty,
           arena.slabs_purged);
  out.line("memf:   blocks parked between threads: {} ({:.1f} MiB); live thread caches: {}", transfer_blocks,
           mib(transfer_bytes), thread_cache_live_count());
  out.line("memf:   large blocks live: {} ({:.1f} MiB requested)", large.live_blocks, mib(large.live_bytes));
  out.line("memf:   huge mapping cache: {} mappings ({:.1f} MiB), {} reuses, {} fresh mappings", large.cached_mappings,
           mib(large.cached_bytes), large.mapping_cache_hits, large.mapping_cache_misses);
}

}  // namespace memf
