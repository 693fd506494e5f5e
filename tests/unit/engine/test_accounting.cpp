// engine/accounting: bytes per category tag, the running total of live bytes and its peak,
// external memory, and the two hooks through which a limit reaches the allocation path. The
// engine only counts tags (track/ names them) and only calls the hooks (pressure/ installs them).
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "accounting.hpp"
#include "engine.hpp"

using namespace memf;

namespace {
constexpr size_t MiB = size_t(1) << 20;
}  // namespace

TEST_CASE("a tag's counters: current bytes, peak and allocations, directly and through tagged allocations") {
  const uint8_t tag = 200;
  const TagUsage start = tag_usage(tag);
  category_account_alloc(tag, 100);
  category_account_alloc(tag, 300);
  category_account_free(tag, 100);
  TagUsage usage = tag_usage(tag);
  REQUIRE(usage.current_bytes == start.current_bytes + 300);
  REQUIRE(usage.peak_bytes >= start.current_bytes + 400);
  REQUIRE(usage.allocations == start.allocations + 2);
  // The peak is only ever raised.
  const uint64_t peak = usage.peak_bytes;
  raise_tag_peak(tag, 1);
  REQUIRE(tag_usage(tag).peak_bytes == peak);
  raise_tag_peak(tag, peak + 5);
  REQUIRE(tag_usage(tag).peak_bytes == peak + 5);
  category_account_free(tag, 300);

  // A thread allocating under a tag: its pool and large blocks count in the tag (pool blocks by
  // their class size, large ones by the bytes asked), the block's state byte holds the tag, and
  // the free takes it off again, whichever thread frees.
  const uint8_t other = 201;
  const TagUsage before = tag_usage(other);
  void* small = nullptr;
  void* large = nullptr;
  std::thread([&] {
    set_thread_category(other);
    small = engine_malloc(100);  // class 112
    large = engine_malloc(50000);
    set_thread_category(kCategoryUnknown);
  }).join();
  REQUIRE(slot_state(small) == other);
  usage = tag_usage(other);
  REQUIRE(usage.current_bytes == before.current_bytes + 112 + 50000);
  REQUIRE(usage.allocations == before.allocations + 2);
  engine_free(small);
  engine_free(large);
  REQUIRE(tag_usage(other).current_bytes == before.current_bytes);
  REQUIRE(slot_state(small) == kSlotAllocated);  // untagged again for the fast paths
  // Untagged allocations cost the tag counters nothing.
  const TagUsage unknown = tag_usage(kCategoryUnknown);
  engine_free(engine_malloc(64));
  REQUIRE(tag_usage(kCategoryUnknown).allocations == unknown.allocations);
}

TEST_CASE("the running total follows large blocks exactly, exited threads' pool blocks exactly, and the peak follows it") {
  const uint64_t start = running_total_bytes();
  void* large = engine_malloc(100000);
  REQUIRE(running_total_bytes() == start + 100000);
  REQUIRE(peak_usage() >= start + 100000);
  engine_free(large);
  REQUIRE(running_total_bytes() == start);

  // Pool blocks are added on slow paths; a thread's exit settles its figures exactly.
  std::vector<void*> blocks;
  std::thread([&] {
    for (int i = 0; i < 100; ++i) blocks.push_back(engine_malloc(1024));
  }).join();
  REQUIRE(running_total_bytes() == start + 100 * 1024);
  REQUIRE(peak_usage() >= start + 100 * 1024);
  std::thread([&] {
    for (void* p : blocks) engine_free(p);
  }).join();
  REQUIRE(running_total_bytes() == start);

  // note_usage raises the peak and never lowers it.
  const uint64_t peak = peak_usage();
  note_usage(peak + 4096);
  REQUIRE(peak_usage() == peak + 4096);
  note_usage(1);
  REQUIRE(peak_usage() == peak + 4096);
}

TEST_CASE("a thread adds its pool bytes to the running total in steps, and the rest when it exits") {
  const uint64_t start = running_total_bytes();
  std::vector<void*> blocks;
  uint64_t while_running = 0, after_many = 0;
  std::thread([&] {
    // 20 blocks of 512 B: refilled on a slow path, far below one step.
    for (int i = 0; i < 20; ++i) blocks.push_back(engine_malloc(512));
    while_running = running_total_bytes();
    // 1 MiB more: the total follows within a step and the bin's band (at most 128 KiB).
    for (int i = 0; i < 2048; ++i) blocks.push_back(engine_malloc(512));
    after_many = running_total_bytes();
  }).join();
  REQUIRE(while_running == start);
  const uint64_t truth = start + uint64_t(blocks.size()) * 512;
  REQUIRE(after_many <= truth);
  REQUIRE(after_many + uint64_t(kRunningTotalStep) + 128 * 1024 >= truth);
  // The exit adds what was left under a step: exact again.
  REQUIRE(running_total_bytes() == truth);
  REQUIRE(peak_usage() >= truth);
  std::thread([&] {
    for (void* p : blocks) engine_free(p);
  }).join();
  REQUIRE(running_total_bytes() == start);
}

TEST_CASE("external memory counts in its tag and in the running total") {
  const uint8_t tag = 202;
  const uint64_t start = running_total_bytes();
  const ExternalUsage before = external_usage();
  external_account(tag, int64_t(MiB), true);
  REQUIRE(running_total_bytes() == start + MiB);
  REQUIRE(tag_usage(tag).current_bytes == MiB);
  ExternalUsage during = external_usage();
  REQUIRE(during.current_bytes == before.current_bytes + int64_t(MiB));
  REQUIRE(during.allocations == before.allocations + 1);
  REQUIRE(during.allocated_bytes == before.allocated_bytes + MiB);
  external_account(tag, int64_t(MiB), false);
  REQUIRE(running_total_bytes() == start);
  REQUIRE(tag_usage(tag).current_bytes == 0);
  REQUIRE(external_usage().frees == before.frees + 1);
}

namespace {
std::atomic<int> g_watermark_calls{0};
std::atomic<uint64_t> g_watermark_total{0};
void on_watermark(uint64_t total) {
  g_watermark_calls.fetch_add(1);
  g_watermark_total.store(total);
}
}  // namespace

TEST_CASE("the watermark hook is called once the running total reaches the watermark, not before") {
  set_watermark_hook(on_watermark);
  const uint64_t start = running_total_bytes();
  const uint64_t watermark = start + 3 * MiB;
  set_usage_watermark(watermark);
  g_watermark_calls = 0;
  void* below = engine_malloc(MiB);  // start + 1 MiB
  REQUIRE(g_watermark_calls.load() == 0);
  void* across = engine_malloc(2 * MiB + 4096);  // start + 3 MiB + 4 KiB
  REQUIRE(g_watermark_calls.load() == 1);
  REQUIRE(g_watermark_total.load() == start + 3 * MiB + 4096);
  engine_free(across);
  engine_free(below);
  REQUIRE(g_watermark_calls.load() == 1);  // falling totals never call it
  // Removed: the same crossing calls nothing.
  set_watermark_hook(nullptr);
  void* again = engine_malloc(4 * MiB);
  REQUIRE(g_watermark_calls.load() == 1);
  engine_free(again);
  set_usage_watermark(UINT64_MAX);
}

namespace {
struct AdmitLog {
  std::atomic<int> calls{0};
  uint64_t total = 0;
  size_t bytes = 0;
  bool admit = false;
  bool allocate_inside = false;
  void* inner = nullptr;
};
AdmitLog g_admit;
bool on_admit(uint64_t total, size_t bytes) {
  g_admit.calls.fetch_add(1);
  g_admit.total = total;
  g_admit.bytes = bytes;
  // An allocation past the limit from inside the hook: not sent to the hook again.
  if (g_admit.allocate_inside) g_admit.inner = engine_malloc(2 * MiB);
  return g_admit.admit;
}
}  // namespace

TEST_CASE("past the hard limit the admit hook decides; it is not re-entered when it allocates") {
  set_admit_hook(on_admit);
  const uint64_t start = running_total_bytes();
  set_hard_limit(start + MiB);
  // Within the limit the hook is not asked.
  void* within = engine_malloc(512 * 1024);
  REQUIRE(within != nullptr);
  REQUIRE(g_admit.calls.load() == 0);
  // Past it: the hook refuses, the allocation fails with ENOMEM.
  errno = 0;
  REQUIRE(engine_malloc(2 * MiB) == nullptr);
  REQUIRE(errno == ENOMEM);
  REQUIRE(g_admit.calls.load() == 1);
  REQUIRE(g_admit.total == start + 512 * 1024);
  REQUIRE(g_admit.bytes == 2 * MiB);
  // The hook admits: the allocation proceeds.
  g_admit.admit = true;
  void* admitted = engine_malloc(2 * MiB);
  REQUIRE(admitted != nullptr);
  REQUIRE(g_admit.calls.load() == 2);
  // The hook allocates past the limit itself: that allocation is served without a second call.
  g_admit.allocate_inside = true;
  void* outer = engine_malloc(3 * MiB);
  REQUIRE(outer != nullptr);
  REQUIRE(g_admit.calls.load() == 3);
  REQUIRE(g_admit.inner != nullptr);
  REQUIRE(engine_owns(g_admit.inner));
  g_admit.allocate_inside = false;
  engine_free(g_admit.inner);
  engine_free(outer);
  engine_free(admitted);
  engine_free(within);
  // No hook: past the limit simply proceeds.
  set_admit_hook(nullptr);
  REQUIRE(admit_allocation(100 * MiB));
  void* unhooked = engine_malloc(2 * MiB);
  REQUIRE(unhooked != nullptr);
  engine_free(unhooked);
  REQUIRE(g_admit.calls.load() == 3);
  // No limit: nothing is asked.
  set_admit_hook(on_admit);
  set_hard_limit(0);
  REQUIRE(admit_allocation(SIZE_MAX / 2));
  REQUIRE(g_admit.calls.load() == 3);
  set_admit_hook(nullptr);
}
