// The large path in-process: mimalloc blocks, whole mappings and their cache, the block table.
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine.hpp"
#include "large.hpp"
#include "mapping_test_util.hpp"
#include "os.hpp"
#include "page_reporting.hpp"
#include "release.hpp"

using namespace memf;

namespace {

using mapping_test::advised_huge;
using mapping_test::mapping_flags;

// MEMF_HUGE_PAGES for one test: the default, auto, decides by the machine (base/page_reporting.hpp).
struct HugePagesFor {
  HugePages saved = g_config.huge_pages;
  explicit HugePagesFor(HugePages setting) { g_config.huge_pages = setting; }
  ~HugePagesFor() { g_config.huge_pages = saved; }
};


}  // namespace

TEST_CASE("blocks above the pool limit are large blocks with a record") {
  for (size_t size : {kMaxPoolSize + 1, size_t(20000), size_t(100000), size_t(1) << 20, size_t(5) << 20}) {
    void* p = engine_malloc(size);
    REQUIRE(p != nullptr);
    REQUIRE_FALSE(pool_contains(p));
    LargeRecord record;
    REQUIRE(large_lookup(p, &record));
    REQUIRE(record.requested == size);
    REQUIRE(record.usable >= size);
    REQUIRE(engine_usable_size(p) == record.usable);
    REQUIRE(record.kind == (size >= config().huge_threshold ? LargeKind::kMapping : LargeKind::kMimalloc));
    memset(p, 0x5a, record.usable);
    engine_free(p);
    REQUIRE_FALSE(large_lookup(p, &record));
  }
}

TEST_CASE("small blocks from mimalloc are 16-byte aligned, as every block memf hands out") {
  // The pools send small requests here when they refuse a refill (a failing limit); mimalloc alone
  // would put blocks of up to 8 bytes on 8-byte boundaries.
  std::vector<void*> blocks;
  for (size_t size = 0; size <= 32; ++size) {
    for (int i = 0; i < 8; ++i) {
      for (bool zero : {false, true}) {
        void* p = large_alloc(size, 16, zero, kCategoryUnknown, 0);
        REQUIRE(p != nullptr);
        REQUIRE(uintptr_t(p) % 16 == 0);
        LargeRecord record;
        REQUIRE(large_lookup(p, &record));
        REQUIRE(record.requested == size);
        blocks.push_back(p);
      }
    }
  }
  for (void* p : blocks) engine_free(p);
}

TEST_CASE("the table's storage ranges hold every live block's entry, before and after stripes grow") {
  // The leak checker leaves these ranges out of its roots: an entry outside them would make its
  // block reachable from memf's own data. Before the test below, which makes every stripe grow
  // for the rest of the process, so that the first part sees the stripes' first slots.
  auto entry_reported = [](const void* p) {
    uintptr_t begins[kMaxLargeTableRanges], ends[kMaxLargeTableRanges];
    const size_t ranges = large_table_ranges(begins, ends, kMaxLargeTableRanges);
    REQUIRE(ranges <= kMaxLargeTableRanges);
    for (size_t i = 0; i < ranges; ++i)
      for (uintptr_t word = begins[i]; word + sizeof(uintptr_t) <= ends[i]; word += sizeof(uintptr_t))
        if (*reinterpret_cast<const uintptr_t*>(word) == uintptr_t(p)) return true;
    return false;
  };
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(engine_malloc(kMaxPoolSize + 1 + 64 * size_t(i)));
  for (void* p : blocks) REQUIRE(entry_reported(p));
  // 2000 more: every stripe outgrows its first slots (8 entries each at load 1/2).
  for (int i = 0; i < 2000; ++i) blocks.push_back(engine_malloc(kMaxPoolSize + 1 + 16 * size_t(i % 50)));
  for (void* p : blocks) REQUIRE(entry_reported(p));
  for (void* p : blocks) engine_free(p);
}

TEST_CASE("the block table stays exact through growth and deletion") {
  // Random inserts and erases against a model: backward-shift deletion must keep every chain.
  std::mt19937 random(42);
  std::unordered_map<void*, size_t> model;
  std::vector<void*> live;
  LargeStats start = large_stats();
  for (int op = 0; op < 20000; ++op) {
    if (live.size() < 3000 && (random() % 3 != 0 || live.empty())) {
      size_t size = kMaxPoolSize + 1 + random() % 60000;
      void* p = engine_malloc(size);
      REQUIRE(p != nullptr);
      model[p] = size;
      live.push_back(p);
    } else {
      size_t index = random() % live.size();
      void* p = live[index];
      LargeRecord record;
      REQUIRE(large_lookup(p, &record));
      REQUIRE(record.requested == model[p]);
      REQUIRE(large_free(p));
      REQUIRE_FALSE(large_free(p));  // gone: a second free finds nothing
      model.erase(p);
      live[index] = live.back();
      live.pop_back();
    }
  }
  LargeStats middle = large_stats();
  REQUIRE(middle.live_blocks == start.live_blocks + live.size());
  for (void* p : live) {
    LargeRecord record;
    REQUIRE(large_lookup(p, &record));
    REQUIRE(record.requested == model[p]);
    engine_free(p);
  }
  REQUIRE(large_stats().live_blocks == start.live_blocks);
}

TEST_CASE("large allocations, frees and bytes are counted once each, a moving realloc as both") {
  const LargeStats start = large_stats();
  const size_t a_size = kMaxPoolSize + 100, b_size = kMaxPoolSize + 5000;
  void* a = engine_malloc(a_size);
  void* b = engine_malloc(b_size);
  REQUIRE((a && b));
  LargeStats now = large_stats();
  REQUIRE(now.allocations == start.allocations + 2);
  REQUIRE(now.allocated_bytes == start.allocated_bytes + a_size + b_size);
  REQUIRE(now.frees == start.frees);
  // mimalloc to mimalloc: the block may move or not; either way one free and one allocation.
  const size_t grown = kMaxPoolSize + 200000;
  void* c = large_realloc(a, grown);
  REQUIRE(c != nullptr);
  now = large_stats();
  REQUIRE(now.allocations == start.allocations + 3);
  REQUIRE(now.frees == start.frees + 1);
  REQUIRE(now.allocated_bytes == start.allocated_bytes + a_size + b_size + grown);
  // Across kinds (mimalloc to a mapping) large_realloc declines and the block stays as it was:
  // nothing is counted.
  REQUIRE(large_realloc(b, config().huge_threshold + 1) == nullptr);
  REQUIRE(large_stats().allocations == now.allocations);
  REQUIRE(large_stats().frees == now.frees);
  LargeRecord record;
  REQUIRE(large_lookup(b, &record));
  REQUIRE(record.requested == b_size);
  REQUIRE(large_free(c));
  REQUIRE(large_free(b));
  REQUIRE_FALSE(large_free(b));  // a second free is not counted
  REQUIRE(large_stats().frees == start.frees + 3);
  REQUIRE(large_stats().live_blocks == start.live_blocks);
}

TEST_CASE("freed huge mappings are reused without new page faults, and calloc zeroes them") {
  large_release_cache();
  const size_t size = size_t(8) << 20;
  char* first = static_cast<char*>(engine_malloc(size));
  REQUIRE(first != nullptr);
  memset(first, 0x77, size);
  engine_free(first);
  LargeStats before = large_stats();
  REQUIRE(before.cached_mappings >= 1);
  char* second = static_cast<char*>(engine_malloc(size - 12345));
  REQUIRE(second == first);
  REQUIRE(large_stats().mapping_cache_hits == before.mapping_cache_hits + 1);
  engine_free(second);
  char* zeroed = static_cast<char*>(engine_calloc(1, size));
  REQUIRE(zeroed == first);
  for (size_t i = 0; i < size; i += 4096) REQUIRE(zeroed[i] == 0);
  REQUIRE(zeroed[size - 1] == 0);
  engine_free(zeroed);
  REQUIRE(large_release_cache() >= size);
  REQUIRE(large_stats().cached_bytes == 0);
}

TEST_CASE("the mapping cache stays within its bound") {
  large_release_cache();
  std::vector<void*> blocks;
  for (int i = 0; i < 40; ++i) blocks.push_back(engine_malloc(size_t(2 + i % 3) << 20));
  for (void* p : blocks) engine_free(p);
  LargeStats stats = large_stats();
  REQUIRE(stats.cached_bytes <= config().huge_cache_bytes);
  REQUIRE(stats.cached_mappings <= 32);
  large_release_cache();
}

TEST_CASE("the mapping cache keeps no more than the live mappings, above a floor of 32 MiB") {
  large_release_cache();
  // Nothing else live: a 20 MiB mapping is kept (under the floor), a 100 MiB one is unmapped.
  void* small = engine_malloc(size_t(20) << 20);
  engine_free(small);
  REQUIRE(large_stats().cached_bytes >= size_t(20) << 20);
  large_release_cache();
  void* big = engine_malloc(size_t(100) << 20);
  engine_free(big);
  REQUIRE(large_stats().cached_bytes == 0);
  // With 200 MiB live in mappings, a freed 100 MiB mapping is kept for reuse.
  void* live_a = engine_malloc(size_t(100) << 20);
  void* live_b = engine_malloc(size_t(100) << 20);
  big = engine_malloc(size_t(100) << 20);
  engine_free(big);
  REQUIRE(large_stats().cached_bytes >= size_t(100) << 20);
  engine_free(live_a);
  engine_free(live_b);
  large_release_cache();
}

TEST_CASE("a cached mapping not reused within a second is unmapped at the next huge operation") {
  large_release_cache();
  void* first = engine_malloc(size_t(8) << 20);
  engine_free(first);
  REQUIRE(large_stats().cached_mappings == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const LargeStats before = large_stats();
  void* other = engine_malloc(size_t(3) << 20);  // smaller: would have reused the 8 MiB one
  REQUIRE(large_stats().mapping_cache_hits == before.mapping_cache_hits);
  REQUIRE(large_stats().mapping_cache_misses == before.mapping_cache_misses + 1);
  REQUIRE(large_stats().cached_mappings == 0);
  engine_free(other);
  large_release_cache();
}

// A 4 MiB mapping cached, with the page after it taken so that it cannot grow where it is (or
// nullptr for the blocker when the page is someone else's already: the same case).
struct BlockedCachedMapping {
  static constexpr size_t kSmall = size_t(4) << 20;
  char* block = nullptr;
  void* blocker = nullptr;
  BlockedCachedMapping() {
    large_release_cache();
    block = static_cast<char*>(engine_malloc(kSmall));
    REQUIRE(block != nullptr);
    memset(block, 0x5a, kSmall);
    engine_free(block);
    REQUIRE(large_stats().cached_mappings == 1);
    void* page = mmap(block + kSmall, kPageSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (page == block + kSmall) blocker = page;
    else if (page != MAP_FAILED) munmap(page, kPageSize);
  }
  ~BlockedCachedMapping() {
    if (blocker) munmap(blocker, kPageSize);
    large_release_cache();
  }
};

TEST_CASE("with huge pages, a cached mapping that cannot grow where it is moves to a huge-page boundary") {
  if (!os::transparent_huge_pages()) {
    WARN("skipped: this system gives no transparent huge pages (/sys/kernel/mm/transparent_hugepage/enabled)");
    return;
  }
  HugePagesFor on(HugePages::kOn);
  BlockedCachedMapping cached;
  const LargeStats before = large_stats();
  char* grown = static_cast<char*>(engine_malloc((size_t(8) << 20) - 5000));
  REQUIRE(grown != nullptr);
  REQUIRE(grown != cached.block);
  // Its huge pages move whole only between huge-page boundaries, and it stays whole huge pages.
  REQUIRE(uintptr_t(grown) % (size_t(2) << 20) == 0);
  REQUIRE(engine_usable_size(grown) == size_t(8) << 20);
  REQUIRE(advised_huge(grown));
  REQUIRE(large_stats().mapping_cache_hits == before.mapping_cache_hits + 1);
  REQUIRE(large_stats().cached_mappings == 0);
  REQUIRE(grown[0] == 0x5a);  // the cached pages, moved
  REQUIRE(grown[cached.kSmall - 1] == 0x5a);
  engine_free(grown);
}

TEST_CASE("without huge pages, a cached mapping that cannot grow where it is is moved, keeping its pages") {
  HugePagesFor off(HugePages::kOff);
  {
    BlockedCachedMapping cached;
    const LargeStats before = large_stats();
    char* grown = static_cast<char*>(engine_malloc(size_t(8) << 20));
    REQUIRE(grown != nullptr);
    REQUIRE(large_stats().mapping_cache_hits == before.mapping_cache_hits + 1);
    REQUIRE(large_stats().cached_mappings == 0);
    REQUIRE(grown[0] == 0x5a);  // the cached pages, moved
    REQUIRE(grown[cached.kSmall - 1] == 0x5a);
    engine_free(grown);
  }
}

TEST_CASE("with MEMF_HUGE_PAGES=1, fresh huge mappings start on a huge page and are advised for THP") {
  if (!os::transparent_huge_pages()) {
    WARN("skipped: this system gives no transparent huge pages (/sys/kernel/mm/transparent_hugepage/enabled)");
    return;
  }
  large_release_cache();
  HugePagesFor on(HugePages::kOn);
  void* block = engine_malloc((size_t(5) << 20) + 12345);
  REQUIRE(block != nullptr);
  REQUIRE(uintptr_t(block) % (size_t(2) << 20) == 0);
  // A whole number of huge pages: no partial last one left to 4 KiB faults.
  REQUIRE(engine_usable_size(block) == size_t(6) << 20);
  REQUIRE_FALSE(mapping_flags(block).empty());
  REQUIRE(advised_huge(block));
  // Reused from the cache, and grown by mremap, it keeps the advice.
  engine_free(block);
  block = engine_malloc(size_t(5) << 20);
  REQUIRE(advised_huge(block));
  block = engine_realloc(block, size_t(40) << 20);
  REQUIRE(advised_huge(block));
  engine_free(block);
  // A larger alignment is kept; a mapping under a huge page is left alone.
  void* aligned = engine_aligned_alloc(size_t(8) << 20, size_t(3) << 20);
  REQUIRE(uintptr_t(aligned) % (size_t(8) << 20) == 0);
  REQUIRE(advised_huge(aligned));
  void* small = engine_aligned_alloc(size_t(1) << 20, size_t(1) << 20);
  REQUIRE_FALSE(mapping_flags(small).empty());
  REQUIRE_FALSE(advised_huge(small));
  engine_free(aligned);
  engine_free(small);
  large_release_cache();
}

TEST_CASE("with MEMF_HUGE_PAGES=0 huge mappings are left without the huge-page advice") {
  large_release_cache();
  HugePagesFor off(HugePages::kOff);
  void* block = engine_malloc(size_t(6) << 20);
  REQUIRE(block != nullptr);
  REQUIRE_FALSE(mapping_flags(block).empty());
  REQUIRE_FALSE(advised_huge(block));
  engine_free(block);
  large_release_cache();
}

TEST_CASE("MEMF_HUGE_PAGES=auto advises huge mappings unless the hypervisor takes back free memory") {
  if (!os::transparent_huge_pages()) {
    WARN("skipped: this system gives no transparent huge pages (/sys/kernel/mm/transparent_hugepage/enabled)");
    return;
  }
  REQUIRE(default_config().huge_pages == HugePages::kAuto);
  HugePagesFor automatic(HugePages::kAuto);
  large_release_cache();
  void* block = engine_malloc(size_t(6) << 20);
  REQUIRE(block != nullptr);
  INFO("free page reporting on this machine: " << free_page_reporting());
  REQUIRE(advised_huge(block) == !free_page_reporting());
  // Whole huge pages only when advised: a 4 KiB-page mapping is page-rounded.
  void* odd = engine_malloc((size_t(5) << 20) + 12345);
  REQUIRE(odd != nullptr);
  REQUIRE(engine_usable_size(odd) == (free_page_reporting() ? (size_t(5) << 20) + 16384 : size_t(6) << 20));
  engine_free(odd);
  engine_free(block);
  large_release_cache();
}

TEST_CASE("realloc of a huge block grows by remapping and keeps its contents") {
  size_t size = size_t(3) << 20;
  auto* p = static_cast<unsigned char*>(engine_malloc(size));
  for (size_t i = 0; i < size; ++i) p[i] = static_cast<unsigned char>(i * 7);
  for (size_t grown = size * 2; grown <= (size_t(48) << 20); grown *= 2) {
    p = static_cast<unsigned char*>(engine_realloc(p, grown));
    REQUIRE(p != nullptr);
    REQUIRE(engine_usable_size(p) >= grown);
  }
  for (size_t i = 0; i < size; ++i)
    if (p[i] != static_cast<unsigned char>(i * 7)) FAIL("byte " << i << " changed");
  // Shrinking into the pools keeps the prefix.
  p = static_cast<unsigned char*>(engine_realloc(p, 100));
  REQUIRE(pool_contains(p));
  for (size_t i = 0; i < 100; ++i) REQUIRE(p[i] == static_cast<unsigned char>(i * 7));
  engine_free(p);
}

TEST_CASE("with huge pages, realloc of a huge block keeps whole huge pages and grows within them in place") {
  if (!os::transparent_huge_pages()) {
    WARN("skipped: this system gives no transparent huge pages (/sys/kernel/mm/transparent_hugepage/enabled)");
    return;
  }
  HugePagesFor on(HugePages::kOn);
  large_release_cache();
  constexpr size_t kHuge = size_t(2) << 20;
  auto* p = static_cast<char*>(engine_malloc(3 * kHuge - 100));
  REQUIRE(p != nullptr);
  REQUIRE(engine_usable_size(p) == 3 * kHuge);
  memset(p, 0x33, 3 * kHuge);
  // A growth past the last huge page is rounded up to whole ones, like a fresh mapping.
  p = static_cast<char*>(engine_realloc(p, 4 * kHuge + 1));
  REQUIRE(p != nullptr);
  REQUIRE(engine_usable_size(p) == 5 * kHuge);
  REQUIRE(advised_huge(p));
  // Steps within the last huge page change nothing: same place, same length.
  for (size_t size = 4 * kHuge + 4096; size <= 5 * kHuge; size += 64 * 1024) {
    char* same = static_cast<char*>(engine_realloc(p, size));
    REQUIRE(same == p);
    REQUIRE(engine_usable_size(p) == 5 * kHuge);
  }
  // Shrinking keeps whole huge pages too.
  p = static_cast<char*>(engine_realloc(p, kHuge + 1));
  REQUIRE(engine_usable_size(p) == 2 * kHuge);
  REQUIRE(p[0] == 0x33);
  REQUIRE(p[kHuge] == 0x33);
  engine_free(p);
  large_release_cache();
}

TEST_CASE("with huge pages, a realloc that cannot grow a block where it is moves it to a huge-page boundary") {
  if (!os::transparent_huge_pages()) {
    WARN("skipped: this system gives no transparent huge pages (/sys/kernel/mm/transparent_hugepage/enabled)");
    return;
  }
  HugePagesFor on(HugePages::kOn);
  large_release_cache();
  constexpr size_t kHuge = size_t(2) << 20;
  auto* p = static_cast<char*>(engine_malloc(2 * kHuge));
  REQUIRE(p != nullptr);
  REQUIRE(uintptr_t(p) % kHuge == 0);
  memset(p, 0x6b, 2 * kHuge);
  void* page = mmap(p + 2 * kHuge, kPageSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  void* blocker = page == p + 2 * kHuge ? page : nullptr;
  if (page != MAP_FAILED && !blocker) munmap(page, kPageSize);
  char* moved = static_cast<char*>(engine_realloc(p, 3 * kHuge + 7));
  REQUIRE(moved != nullptr);
  REQUIRE(moved != p);
  REQUIRE(uintptr_t(moved) % kHuge == 0);
  REQUIRE(engine_usable_size(moved) == 4 * kHuge);
  REQUIRE(advised_huge(moved));
  REQUIRE(moved[0] == 0x6b);
  REQUIRE(moved[2 * kHuge - 1] == 0x6b);
  engine_free(moved);
  if (blocker) munmap(blocker, kPageSize);
  large_release_cache();
}

TEST_CASE("with huge pages, a mapping under a huge page grown past one by realloc gets the advice") {
  if (!os::transparent_huge_pages()) {
    WARN("skipped: this system gives no transparent huge pages (/sys/kernel/mm/transparent_hugepage/enabled)");
    return;
  }
  HugePagesFor on(HugePages::kOn);
  large_release_cache();
  const size_t threshold = g_config.huge_threshold;
  g_config.huge_threshold = size_t(1) << 20;  // mappings from 1 MiB, without the advice below 2
  // Mappings are placed top-down, in the highest gap that fits: blocks fill the gaps above a
  // spacer until one lands just below it, and once the spacer is gone that one can grow where it
  // is (a move is advised on its own path).
  const size_t grown = size_t(4) << 20, size = (size_t(1) << 20) + 4096;
  char* spacer = static_cast<char*>(mmap(nullptr, grown, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  REQUIRE(spacer != MAP_FAILED);
  std::vector<void*> fillers;
  char* p = nullptr;
  while (fillers.size() < 64) {
    p = static_cast<char*>(engine_malloc(size));
    REQUIRE(p != nullptr);
    if (p + engine_usable_size(p) == spacer) break;
    fillers.push_back(p);
  }
  munmap(spacer, grown);
  for (void* filler : fillers) engine_free(filler);
  REQUIRE(p + engine_usable_size(p) == spacer);
  REQUIRE_FALSE(advised_huge(p));
  p[0] = 0x21;
  char* before = p;
  p = static_cast<char*>(engine_realloc(p, size_t(3) << 20));
  REQUIRE(p == before);  // grown where it was
  REQUIRE(engine_usable_size(p) == size_t(4) << 20);
  REQUIRE(advised_huge(p));
  REQUIRE(p[0] == 0x21);
  engine_free(p);
  large_release_cache();
  g_config.huge_threshold = threshold;
}

TEST_CASE("without huge pages, realloc of a huge block keeps page-rounded lengths") {
  HugePagesFor off(HugePages::kOff);
  large_release_cache();
  auto* p = static_cast<char*>(engine_malloc(size_t(3) << 20));
  REQUIRE(p != nullptr);
  p = static_cast<char*>(engine_realloc(p, (size_t(5) << 20) + 1));
  REQUIRE(p != nullptr);
  REQUIRE(engine_usable_size(p) == (size_t(5) << 20) + kPageSize);
  REQUIRE_FALSE(advised_huge(p));
  engine_free(p);
  large_release_cache();
}

TEST_CASE("zero-byte blocks with a large alignment are distinct") {
  for (size_t alignment : {size_t(1) << 17, size_t(1) << 22}) {
    void* a = engine_aligned_alloc(alignment, 0);
    void* b = engine_aligned_alloc(alignment, 0);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    REQUIRE(a != b);
    REQUIRE(engine_usable_size(a) > 0);
    engine_free(a);
    engine_free(b);
  }
}

TEST_CASE("large aligned requests honour the alignment") {
  for (size_t alignment : {size_t(32), size_t(4096), size_t(65536), size_t(1) << 20, size_t(1) << 24}) {
    for (size_t size : {size_t(10000), size_t(300000), size_t(3) << 20}) {
      void* p = engine_aligned_alloc(alignment, size);
      REQUIRE(p != nullptr);
      REQUIRE(uintptr_t(p) % alignment == 0);
      memset(p, 1, size);
      REQUIRE(engine_usable_size(p) >= size);
      engine_free(p);
    }
  }
}

TEST_CASE("blocks of one size, a power of two apart in their low bits, spread over a stripe's slots") {
  // mimalloc's 20 KiB blocks are 2^12 * 5 bytes apart. With the slot index made of the product's
  // low bits alone, the 1024 blocks of each spacing below all had one home among 128 slots, and
  // a lookup walked the probe run from there.
  for (const uintptr_t spacing : {uintptr_t(20480), uintptr_t(65536), uintptr_t(4096)}) {
    std::vector<int> home_count(128);
    const uintptr_t base = uintptr_t(0x7f1234560000);
    for (uintptr_t i = 0; i < 1024; ++i) home_count[large_table_hash(base + i * spacing) & 127]++;
    int busiest = 0, used = 0;
    for (const int n : home_count) {
      busiest = std::max(busiest, n);
      used += n > 0;
    }
    INFO("spacing " << spacing << ": " << used << " of 128 slots are homes, the busiest of " << busiest);
    CHECK(used >= 120);
    CHECK(busiest <= 24);
  }
}
