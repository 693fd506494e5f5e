// api/pressure_api and memory_optimizer: the pressure interface programs use (include/memf/
// pressure.h, pressure.hpp): RAII subscriptions, EvictableCache and its policies, and the C++
// views of the optimizer's report and the fragmentation figures.
#include <catch2/catch.hpp>

#include <memf/pressure.h>
#include <memf/pressure.hpp>

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "cache_registry.hpp"
#include "engine.hpp"
#include "fragmentation.hpp"
#include "monitor.hpp"
#include "optimizer.hpp"
#include "pressure/fake_machine.hpp"

using namespace memf;
using fake_root::FakeMachine;

namespace {
constexpr size_t MiB = size_t(1) << 20;
}  // namespace

TEST_CASE("RAII subscriptions end with their token, also after a move") {
  FakeMachine machine;
  pressure_poke_and_wait();
  std::atomic<int> calls{0};
  std::atomic<int> last{-1};
  {
    PressureSubscription outer;
    {
      PressureSubscription token([&](PressureLevel level) {
        calls.fetch_add(1);
        last.store(int(level));
      });
      REQUIRE(token.active());
      outer = std::move(token);
      REQUIRE_FALSE(token.active());
    }
    machine.usage(950);
    pressure_poke_and_wait();
    REQUIRE(calls.load() == 1);
    REQUIRE(last.load() == int(PressureLevel::Critical));
  }
  machine.usage(10);
  pressure_poke_and_wait();
  REQUIRE(calls.load() == 1);
  REQUIRE(MemoryOptimizer::getInstance().getPressureLevel() == PressureLevel::None);
}

TEST_CASE("evictable cache: LRU keeps what was used, FIFO does not") {
  auto fixed = [](const int&, const int&) -> size_t { return 100; };
  for (EvictionPolicy policy : {EvictionPolicy::LRU, EvictionPolicy::FIFO}) {
    EvictableCache<int, int> cache("lru-fifo", policy, 300, 0, fixed);
    cache.put(1, 10);
    cache.put(2, 20);
    cache.put(3, 30);
    REQUIRE(cache.get(1).value() == 10);
    cache.put(4, 40);  // over capacity: one goes
    REQUIRE(cache.size() == 3);
    if (policy == EvictionPolicy::LRU) {
      REQUIRE(cache.contains(1));
      REQUIRE_FALSE(cache.contains(2));
    } else {
      REQUIRE_FALSE(cache.contains(1));
      REQUIRE(cache.contains(2));
    }
    REQUIRE(cache.stats().evictions == 1);
    REQUIRE(cache.bytes() == 300);
  }
}

TEST_CASE("evictable cache: LFU evicts the least used, size-aware the large and rarely used") {
  auto fixed = [](const int&, const int&) -> size_t { return 100; };
  EvictableCache<int, int> lfu("lfu", EvictionPolicy::LFU, 300, 0, fixed);
  lfu.put(1, 1);
  lfu.put(2, 2);
  lfu.put(3, 3);
  for (int i = 0; i < 3; ++i) lfu.get(1);
  lfu.get(2);
  lfu.get(3);
  lfu.get(3);
  lfu.put(4, 4);
  REQUIRE_FALSE(lfu.contains(2));
  REQUIRE((lfu.contains(1) && lfu.contains(3) && lfu.contains(4)));

  EvictableCache<std::string, std::string> sized("sized", EvictionPolicy::SizeAware);
  sized.put("small-a", std::string(10, 'a'));
  sized.put("big", std::string(100000, 'b'));
  sized.put("small-b", std::string(10, 'c'));
  sized.get("small-a");
  sized.get("big");
  sized.get("small-b");
  REQUIRE(sized.evict(1) > 100000);
  REQUIRE_FALSE(sized.contains("big"));
  REQUIRE(sized.contains("small-a"));
  REQUIRE(sized.contains("small-b"));
  REQUIRE(sized.get("missing") == std::nullopt);
  REQUIRE(sized.stats().misses == 1);
}

TEST_CASE("evictable cache: the optimizer evicts it under pressure, and it leaves the registry with its life") {
  const size_t caches_before = registered_cache_count();
  {
    EvictableCache<int, std::vector<char>> cache("blobs", EvictionPolicy::LRU);
    pressure_stop_monitor();  // (registering started it) no run of its own before the report is read
    REQUIRE(cache.registrationId() > 0);
    REQUIRE(registered_cache_count() == caches_before + 1);
    for (int i = 0; i < 64; ++i) cache.put(i, std::vector<char>(64 * 1024, char(i)));
    const size_t before = cache.bytes();
    // Counted in live bytes (as for memf's own limit): only eviction meets the target.
    optimizer_run(kTriggerManual, kPressureCritical, 1 * MiB, false);
    const OptimizationReport report = MemoryOptimizer::getInstance().getLastReport();
    REQUIRE(report.bytesFreed >= 1 * MiB);
    REQUIRE(report.targetMet);
    REQUIRE(cache.bytes() < before);
    REQUIRE(cache.stats().pressureEvictedBytes >= 1 * MiB);
    REQUIRE(cache.contains(63));  // the most recent survive
    REQUIRE_FALSE(cache.contains(0));
  }
  REQUIRE(registered_cache_count() == caches_before);
}

TEST_CASE("MemoryOptimizer::getLastReport names the steps in the order they ran, with the run's figures") {
  pressure_stop_monitor();  // no run of the monitor's between this run and the report read
  struct Cache {
    static size_t evict(size_t, void*) { return 100; }
  };
  const int id = cache_register("report", &Cache::evict, nullptr, 0);
  REQUIRE(id > 0);
  const OptimizerReport run = optimizer_run(kTriggerManual, kPressureModerate, 150, false);
  REQUIRE(cache_unregister(id));
  const OptimizationReport last = MemoryOptimizer::getInstance().getLastReport();
  REQUIRE(last.steps.size() >= 6);
  REQUIRE(last.steps[0].name == "drain caches");
  REQUIRE(last.steps[4].name == "shrink pools");
  REQUIRE(last.steps[5].name == "evict caches");
  REQUIRE(last.bytesFreed == run.freed);
  REQUIRE(last.targetMet == run.target_met);
  REQUIRE(last.cachesCalled == run.caches_called);
  for (size_t i = 0; i < last.steps.size(); ++i) REQUIRE(last.steps[i].name == optimizer_step_name(run.order[i]));
}

TEST_CASE("memf_fragmentation and MemoryOptimizer::getFragmentation copy the engine's per-class figures") {
  pressure_stop_monitor();  // an optimizer run of the monitor's would move blocks between the reads
  std::vector<void*> blocks;
  for (int i = 0; i < 4096; ++i) blocks.push_back(engine_malloc(1792));
  for (size_t i = 0; i < blocks.size(); i += 2) engine_free(blocks[i]);
  ClassFragmentation engine_figures[kNumClasses];
  uint64_t engine_empty = 0;
  const size_t count = fragmentation_by_class(engine_figures, kNumClasses, &engine_empty);
  memf_class_fragmentation c_figures[kNumClasses];
  uint64_t c_empty = 0;
  REQUIRE(memf_fragmentation(c_figures, kNumClasses, &c_empty) == count);
  REQUIRE(c_empty == engine_empty);
  const std::vector<memf_class_fragmentation> cxx = MemoryOptimizer::getInstance().getFragmentation();
  REQUIRE_FALSE(cxx.empty());
  REQUIRE(cxx.size() == count);
  for (size_t i = 0; i < count; ++i) {
    INFO("class " << engine_figures[i].block_size);
    REQUIRE(c_figures[i].block_size == engine_figures[i].block_size);
    REQUIRE(c_figures[i].slabs == engine_figures[i].slabs);
    REQUIRE(c_figures[i].committed_bytes == engine_figures[i].committed_bytes);
    REQUIRE(c_figures[i].used_bytes == engine_figures[i].used_bytes);
    REQUIRE(c_figures[i].cached_bytes == engine_figures[i].cached_bytes);
    REQUIRE(c_figures[i].fragmentation == engine_figures[i].fragmentation);
    REQUIRE(cxx[i].block_size == engine_figures[i].block_size);
    REQUIRE(cxx[i].used_bytes == engine_figures[i].used_bytes);
  }
  // A buffer of one still says how many classes there are, and fills only the first.
  memf_class_fragmentation one[1];
  REQUIRE(memf_fragmentation(one, 1, nullptr) == count);
  REQUIRE(one[0].block_size == engine_figures[0].block_size);
  for (size_t i = 1; i < blocks.size(); i += 2) engine_free(blocks[i]);
}
