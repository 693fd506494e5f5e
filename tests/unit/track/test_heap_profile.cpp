// The heap profile's sampled mode in-process, through the engine's own entry points: the fast path
// stops exactly where the sample countdown says, every allocation is still counted, and the
// weighted sums estimate each site's figures.
#include <catch2/catch.hpp>

#include <cmath>
#include <thread>
#include <vector>

#include "allocation_stacks.hpp"
#include "engine.hpp"
#include "heap_profile.hpp"
#include "thread_cache.hpp"

using namespace memf;

namespace {

constexpr uint64_t kMean = 4096;

void start_once() {
  static const bool started = [] {
    REQUIRE(allocation_stacks_init());
    return heap_profile_start(ProfileMode::kSampled, kMean, capture_profile_stack);
  }();
  REQUIRE(started);
}

__attribute__((noinline)) void temporary_site(int n) {
  for (int i = 0; i < n; ++i) {
    void* p = engine_malloc(48);
    asm volatile("" : : "r"(p) : "memory");
    engine_free(p);
  }
}

__attribute__((noinline)) void large_site(std::vector<void*>& kept, int n) {
  for (int i = 0; i < n; ++i) kept.push_back(engine_malloc(20000));
}

// The figures of the sites that allocated requests of `size`: the profile's sites are stacks, and
// the stacks of one loop differ only by the test's own frames.
SiteFigures sum_sites(double per_block_bytes) {
  std::vector<SiteFigures> sites(4096);
  sites.resize(std::min(heap_profile_sites(sites.data(), sites.size()), sites.size()));
  SiteFigures total{};
  for (const SiteFigures& s : sites) {
    if (s.allocations <= 0 || std::fabs(s.allocated_bytes / s.allocations - per_block_bytes) > 0.5) continue;
    total.allocations += s.allocations;
    total.allocated_bytes += s.allocated_bytes;
    total.frees += s.frees;
    total.live_bytes += s.live_bytes;
    total.temporary += s.temporary;
    total.peak_bytes += s.peak_bytes;
  }
  return total;
}

}  // namespace

TEST_CASE("a sampled allocation's weight is 1 / P(sampled)") {
  start_once();
  REQUIRE(heap_profile_weight(4096) == Approx(1.0 / (1.0 - std::exp(-1.0))));
  REQUIRE(heap_profile_weight(16) == Approx(1.0 / (1.0 - std::exp(-16.0 / 4096))));
  REQUIRE(heap_profile_weight(size_t(1) << 30) == Approx(1.0));
}

TEST_CASE("sampling keeps every allocation counted") {
  start_once();
  temporary_site(10);  // the thread is set up
  const uint64_t before = thread_allocation_count();
  temporary_site(50000);
  REQUIRE(thread_allocation_count() - before == 50000);
}

TEST_CASE("the weighted samples estimate a site's count, bytes and temporaries") {
  start_once();
  heap_profile_reset_for_test();
  temporary_site(400000);  // 19.2 MB: ~4700 samples, 1.5% standard error
  const SiteFigures s = sum_sites(48);
  REQUIRE(s.allocations == Approx(400000).epsilon(0.08));
  REQUIRE(s.allocated_bytes == Approx(400000.0 * 48).epsilon(0.08));
  REQUIRE(s.frees == Approx(s.allocations).epsilon(0.001));
  REQUIRE(s.temporary == Approx(s.allocations).epsilon(0.001));
  REQUIRE(s.live_bytes < 0.001 * s.allocated_bytes);
}

TEST_CASE("large blocks are sampled by bytes and their peak is snapshotted") {
  start_once();
  heap_profile_reset_for_test();
  std::vector<void*> kept;
  large_site(kept, 2000);  // 40 MB: every block sampled with p = 1 - exp(-20000 / 4096) = 0.992
  for (void* p : kept) engine_free(p);
  const SiteFigures s = sum_sites(20000);
  REQUIRE(s.allocations == Approx(2000).epsilon(0.03));
  REQUIRE(s.allocated_bytes == Approx(40e6).epsilon(0.03));
  REQUIRE(s.live_bytes < 1);
  REQUIRE(s.peak_bytes > 40e6 * (1 - 1.0 / 64) * 0.97);
  REQUIRE(heap_profile_peak().snapshots > 0);
}

TEST_CASE("a thread's pending sums reach the sites at its exit and its table serves the next thread") {
  start_once();
  std::vector<void*> own;
  large_site(own, 10);  // this thread's table is registered
  for (void* p : own) engine_free(p);
  heap_profile_reset_for_test();
  const ProfileThreadTables before = heap_profile_thread_tables();
  REQUIRE(before.in_use >= 1);
  for (int t = 0; t < 8; ++t) {
    size_t in_use_inside = 0;
    std::thread([&in_use_inside] {
      std::vector<void*> kept;
      large_site(kept, 250);
      for (void* p : kept) engine_free(p);
      in_use_inside = heap_profile_thread_tables().in_use;  // this thread's own table registered
    }).join();
    REQUIRE(in_use_inside == before.in_use + 1);
    // The exited thread's table is a spare now; no thread used more than one new table.
    const ProfileThreadTables after = heap_profile_thread_tables();
    REQUIRE(after.in_use == before.in_use);
    REQUIRE(after.spare + after.in_use <= before.spare + before.in_use + 1);
    REQUIRE(after.spare >= 1);
  }
  // 2000 blocks of 20000 B, all counted through tables that are no longer any thread's.
  const SiteFigures s = sum_sites(20000);
  REQUIRE(s.allocations == Approx(2000).epsilon(0.03));
  REQUIRE(s.frees == Approx(s.allocations).epsilon(0.001));
  REQUIRE(s.live_bytes < 1);
}
