// api/memory_tracker: MemoryTracker, the C++ view of the tracker: snapshots of live blocks while
// other threads allocate, memory memf did not allocate, usage by category name.
#include <catch2/catch.hpp>

#include <memf/memf.hpp>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "engine.hpp"
#include "tracker.hpp"

using namespace memf;

TEST_CASE("snapshots stay consistent while other threads allocate") {
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 2; ++t) {
    workers.emplace_back([&] {
      std::vector<void*> mine;
      while (!stop.load()) {
        for (int i = 0; i < 200; ++i) mine.push_back(engine_malloc(16 + i % 500));
        for (void* p : mine) engine_free(p);
        mine.clear();
      }
    });
  }
  std::vector<void*> kept;
  for (int i = 0; i < 300; ++i) kept.push_back(engine_malloc(777));
  for (int round = 0; round < 20; ++round) {
    ProcessStats stats = process_stats();
    REQUIRE(stats.peak_bytes >= stats.current_bytes);
    auto active = MemoryTracker::getInstance().getActiveAllocations();
    size_t found = 0;
    for (const AllocationInfo& info : active)
      for (void* p : kept)
        if (info.ptr == p) ++found;
    REQUIRE(found == kept.size());
  }
  stop = true;
  for (auto& worker : workers) worker.join();
  for (void* p : kept) engine_free(p);
}

TEST_CASE("memory memf did not allocate can be recorded and released") {
  MemoryTracker& tracker = MemoryTracker::getInstance();
  static char gpu_buffer[4096];
  const size_t before = tracker.getCurrentUsage();
  tracker.recordAllocation(gpu_buffer, 1 << 20, "gpu");
  tracker.recordAllocation(gpu_buffer, 1 << 20, "gpu");  // a second record of the same pointer is ignored
  REQUIRE(tracker.getCurrentUsage() - before == (1 << 20));
  REQUIRE(tracker.getUsageByCategory()["gpu"] == (1 << 20));
  bool listed = false;
  for (const AllocationInfo& info : tracker.getActiveAllocations())
    if (info.ptr == gpu_buffer) listed = info.size == (1 << 20) && info.category == "gpu";
  REQUIRE(listed);
  tracker.recordDeallocation(gpu_buffer);
  REQUIRE(tracker.getCurrentUsage() == before);
  REQUIRE(tracker.getPeakUsage() >= before + (1 << 20));
  // memf's own blocks are tracked already: recording them changes nothing.
  void* own = engine_malloc(64);
  const size_t with_own = tracker.getCurrentUsage();
  tracker.recordAllocation(own, 64, "twice");
  REQUIRE(tracker.getCurrentUsage() == with_own);
  engine_free(own);
}

TEST_CASE("getUsageByCategory gives each category's current bytes by name, Unknown included") {
  std::vector<void*> textures;
  {
    CategoryScope scope("api-textures");
    for (int i = 0; i < 100; ++i) textures.push_back(engine_malloc(1000));  // class 1024
    textures.push_back(engine_malloc(300000));                             // large
    {
      CategoryScope inner("api-meshes");
      textures.push_back(engine_malloc(64));
    }
    textures.push_back(engine_malloc(16));
  }
  auto by_name = MemoryTracker::getInstance().getUsageByCategory();
  REQUIRE(by_name["api-textures"] == 100 * 1024 + 300000 + 16);
  REQUIRE(by_name["api-meshes"] == 64);
  REQUIRE(by_name.count("Unknown") == 1);
  for (void* p : textures) engine_free(p);
  by_name = MemoryTracker::getInstance().getUsageByCategory();
  REQUIRE(by_name["api-textures"] == 0);
  REQUIRE(by_name["api-meshes"] == 0);
}
