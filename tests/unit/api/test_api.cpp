// api: the public C and C++ interface. memf's own limit is set in one place (api/limit.cpp) whichever
// spelling the program uses, and isMemoryPressure is the moderate threshold applied to it
// (include/memf/pressure.h); the C functions of memf.h reach what they name.
#include <catch2/catch.hpp>

#include <memf/memf.h>
#include <memf/memf.hpp>
#include <memf/memory_pool.hpp>
#include <memf/pressure.h>
#include <memf/pressure.hpp>

#include <cstdint>
#include <vector>

#include "engine.hpp"
#include "monitor.hpp"
#include "tracker.hpp"

using namespace memf;

namespace {

constexpr size_t MiB = size_t(1) << 20;

uint64_t limit_in_stats() {
  memf_stats stats{};
  REQUIRE(memf_get_stats(&stats) == 0);
  return stats.limit_bytes;
}

// The largest limit whose moderate threshold the usage reaches: usage >= moderate * limit holds
// for it and fails for the next one up (computed as include/memf/pressure.h states the relation).
uint64_t largest_limit_reached(uint64_t usage, double moderate) {
  uint64_t limit = uint64_t(double(usage) / moderate);
  while (moderate * double(limit + 1) <= double(usage)) ++limit;
  while (moderate * double(limit) > double(usage)) --limit;
  return limit;
}

}  // namespace

TEST_CASE("the memory limit drives isMemoryPressure") {
  MemoryTracker& tracker = MemoryTracker::getInstance();
  void* held = engine_malloc(size_t(1) << 20);
  const size_t now = tracker.getCurrentUsage();
  REQUIRE(now >= (size_t(1) << 20));
  tracker.setMemoryLimit(now * 10 + (1 << 20));
  REQUIRE_FALSE(tracker.isMemoryPressure());
  tracker.setMemoryLimit(now + now / 10);
  REQUIRE(tracker.isMemoryPressure());
  tracker.setMemoryLimit(0);
  REQUIRE_FALSE(tracker.isMemoryPressure());
  engine_free(held);
}

TEST_CASE("memf_set_limit, MemoryTracker::setMemoryLimit and MemoryOptimizer::setMemoryLimit set one and the same limit") {
  memf_set_limit(100 * MiB);
  REQUIRE(limit_in_stats() == 100 * MiB);
  REQUIRE(memory_limit() == 100 * MiB);
  MemoryTracker::getInstance().setMemoryLimit(200 * MiB);
  REQUIRE(limit_in_stats() == 200 * MiB);
  REQUIRE(memory_limit() == 200 * MiB);
  MemoryOptimizer::getInstance().setMemoryLimit(300 * MiB);
  REQUIRE(limit_in_stats() == 300 * MiB);
  REQUIRE(memory_limit() == 300 * MiB);
  // The monitor evaluates against the same value.
  pressure_poke_and_wait();
  REQUIRE(MemoryOptimizer::getInstance().getPressureInfo().own_limit == 300 * MiB);
  memf_set_limit(150 * MiB);
  pressure_poke_and_wait();
  REQUIRE(MemoryOptimizer::getInstance().getPressureInfo().own_limit == 150 * MiB);
  REQUIRE(limit_in_stats() == 150 * MiB);
  // 0 removes it, from any spelling.
  MemoryTracker::getInstance().setMemoryLimit(0);
  REQUIRE(limit_in_stats() == 0);
  pressure_poke_and_wait();
  REQUIRE(MemoryOptimizer::getInstance().getPressureInfo().own_limit == 0);
}

TEST_CASE("isMemoryPressure is exactly usage >= moderate threshold * own limit, and follows setThresholds") {
  MemoryTracker& tracker = MemoryTracker::getInstance();
  MemoryOptimizer& optimizer = MemoryOptimizer::getInstance();
  void* held = engine_malloc(MiB);
  const uint64_t usage = tracker.getCurrentUsage();
  REQUIRE(usage >= MiB);

  // Default moderate threshold 0.75: true at the largest limit the usage reaches, false one byte up.
  const uint64_t at = largest_limit_reached(usage, 0.75);
  tracker.setMemoryLimit(at);
  REQUIRE(tracker.isMemoryPressure());
  tracker.setMemoryLimit(at + 1);
  REQUIRE_FALSE(tracker.isMemoryPressure());
  // The usage rising past the threshold makes it true, at the same limit.
  void* more = engine_malloc(64 * 1024);
  REQUIRE(tracker.isMemoryPressure());
  engine_free(more);
  REQUIRE_FALSE(tracker.isMemoryPressure());

  // Thresholds moved: the relation follows the new moderate threshold.
  REQUIRE(optimizer.setThresholds(0.5, 0.8, 0.05));
  REQUIRE(tracker.isMemoryPressure());  // limit at + 1 is far below usage / 0.5
  const uint64_t at_half = largest_limit_reached(usage, 0.5);
  REQUIRE(at_half == 2 * usage);
  tracker.setMemoryLimit(at_half);
  REQUIRE(tracker.isMemoryPressure());
  tracker.setMemoryLimit(at_half + 1);
  REQUIRE_FALSE(tracker.isMemoryPressure());
  // Invalid thresholds are refused and change nothing.
  REQUIRE_FALSE(optimizer.setThresholds(0.95, 0.9, 0.05));
  REQUIRE_FALSE(tracker.isMemoryPressure());
  tracker.setMemoryLimit(at_half);
  REQUIRE(tracker.isMemoryPressure());

  REQUIRE(optimizer.setThresholds(0.75, 0.90, 0.05));
  tracker.setMemoryLimit(at + 1);
  REQUIRE_FALSE(tracker.isMemoryPressure());
  // No limit: never pressure, whatever the usage.
  tracker.setMemoryLimit(0);
  REQUIRE_FALSE(tracker.isMemoryPressure());
  engine_free(held);
}

TEST_CASE("memf_set_limit_action accepts warn and fail only") {
  REQUIRE(memf_set_limit_action(7) == -1);
  REQUIRE(memf_set_limit_action(-1) == -1);
  REQUIRE(memf_set_limit_action(MEMF_LIMIT_FAIL) == 0);
  REQUIRE(memf_set_limit_action(MEMF_LIMIT_WARN) == 0);
}

TEST_CASE("memf_pools_shrink_all shrinks every live pool but keeps chunks with live objects") {
  MemoryPool a(64, 64, "api.shrink.a");
  std::vector<void*> objects;
  for (int i = 0; i < 5000; ++i) objects.push_back(a.allocate());
  for (void* p : objects) a.deallocate(p);
  REQUIRE(memf_pools_shrink_all() > 0);
  REQUIRE(a.getMemoryUsage() == 0);
  void* p = a.allocate();
  const size_t usage = a.getMemoryUsage();
  REQUIRE(usage > 0);
  memf_pools_shrink_all();  // the C spelling: a's one live object keeps its chunk
  REQUIRE(a.getUsedCount() == 1);
  REQUIRE(a.getMemoryUsage() > 0);
  a.deallocate(p);
}
