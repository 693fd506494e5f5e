// The optimizer: order of its steps, cache eviction by priority, the hard-limit policies, the
// synchronous point and the drain it asks of idle threads. (EvictableCache and the C/C++ views are
// the api's: tests/unit/api/.)
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "accounting.hpp"
#include "cache_registry.hpp"
#include "central.hpp"
#include "engine.hpp"
#include "monitor.hpp"
#include "optimizer.hpp"
#include "release.hpp"
#include "stderr_stream.hpp"
#include "tracker.hpp"

using namespace memf;

namespace {

constexpr size_t MiB = 1 << 20;

struct FakeCache {
  int priority;
  size_t per_call;  // bytes it says it freed per call
  std::vector<int>* calls;
  static size_t evict(size_t, void* ctx) {
    auto* self = static_cast<FakeCache*>(ctx);
    self->calls->push_back(self->priority);
    return self->per_call;
  }
};

// Blocks a test holds and gives back when the optimizer asks.
struct HeldBlocks {
  std::mutex mutex;
  std::vector<void*> blocks;
  size_t block_size = 0;
  std::atomic<int> calls{0};
  std::thread::id tester = std::this_thread::get_id();
  std::atomic<bool> called_by_tester{false};
  static size_t evict(size_t wanted, void* ctx) {
    auto* self = static_cast<HeldBlocks*>(ctx);
    std::unique_lock<std::mutex> lock(self->mutex, std::try_to_lock);
    if (!lock.owns_lock()) return 0;
    self->calls.fetch_add(1);
    if (std::this_thread::get_id() == self->tester) self->called_by_tester = true;
    size_t freed = 0;
    while (freed < wanted && !self->blocks.empty()) {
      engine_free(self->blocks.back());
      self->blocks.pop_back();
      freed += self->block_size;
    }
    return freed;
  }
};

}  // namespace

TEST_CASE("steps run in order of cost and caches are asked by priority until the target is met") {
  std::vector<int> calls;
  calls.reserve(64);
  FakeCache a{5, 100, &calls}, b{1, 100, &calls}, c{3, 100, &calls};
  const int ia = cache_register("a", &FakeCache::evict, &a, a.priority);
  const int ib = cache_register("b", &FakeCache::evict, &b, b.priority);
  const int ic = cache_register("c", &FakeCache::evict, &c, c.priority);
  REQUIRE((ia > 0 && ib > 0 && ic > 0));

  // memf's own limit: steps 1-4 do not lower live bytes, so only eviction counts.
  OptimizerReport report = optimizer_run(kTriggerManual, kPressureModerate, 150, false);
  REQUIRE(calls == std::vector<int>{1, 3});
  REQUIRE(report.freed == 200);
  REQUIRE(report.target_met);
  REQUIRE(report.caches_called == 2);
  const int expected[] = {kStepDrainCaches, kStepPurgeSlabs, kStepReleaseMappings, kStepMiCollect,
                          kStepShrinkPools, kStepEvictCaches, kStepReturnEvicted};
  for (int i = 0; i < kOptimizerSteps; ++i) REQUIRE(report.order[i] == expected[i]);
  REQUIRE(report.steps[kStepEvictCaches].bytes == 200);

  calls.clear();
  report = optimizer_run(kTriggerManual, kPressureCritical, 1000, false);
  REQUIRE(calls == std::vector<int>{1, 3, 5});
  REQUIRE_FALSE(report.target_met);

  REQUIRE(cache_unregister(ib));
  REQUIRE_FALSE(cache_unregister(ib));
  calls.clear();
  report = optimizer_run(kTriggerManual, kPressureCritical, 150, false);
  REQUIRE(calls == std::vector<int>{3, 5});
  REQUIRE(cache_unregister(ia));
  REQUIRE(cache_unregister(ic));

  // The last report is kept, and the steps have their names.
  const OptimizerReport last = optimizer_last_report();
  REQUIRE(last.freed == report.freed);
  REQUIRE(last.caches_called == 2);
  REQUIRE(last.order[0] == kStepDrainCaches);
  REQUIRE(std::string(optimizer_step_name(kStepDrainCaches)) == "drain caches");
  REQUIRE(std::string(optimizer_step_name(kStepShrinkPools)) == "shrink pools");
  REQUIRE(std::string(optimizer_step_name(kStepEvictCaches)) == "evict caches");
}

TEST_CASE("for a resident limit, returning empty slabs can meet the target before any eviction") {
  std::vector<int> calls;
  FakeCache cache{0, 100, &calls};
  const int id = cache_register("untouched", &FakeCache::evict, &cache, 0);
  std::vector<void*> blocks;
  for (int i = 0; i < 8192; ++i) blocks.push_back(engine_malloc(1024));  // 8 MiB of pool slabs
  for (void* p : blocks) engine_free(p);
  const OptimizerReport report = optimizer_run(kTriggerManual, kPressureModerate, 1, true);
  REQUIRE(report.steps[kStepDrainCaches].ran);
  REQUIRE(report.steps[kStepPurgeSlabs].ran);
  REQUIRE(report.steps[kStepPurgeSlabs].bytes >= 4 * MiB);
  REQUIRE_FALSE(report.steps[kStepEvictCaches].ran);
  REQUIRE(calls.empty());
  REQUIRE(report.target_met);
  REQUIRE(cache_unregister(id));
}

TEST_CASE("unregistering a cache waits for its running eviction") {
  struct Slow {
    std::atomic<int> started{0}, finished{0};
    static size_t evict(size_t, void* ctx) {
      auto* self = static_cast<Slow*>(ctx);
      self->started.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      self->finished.fetch_add(1);
      return 1;
    }
  } slow;
  const int id = cache_register("slow", &Slow::evict, &slow, 0);
  std::thread runner([] { optimizer_run(kTriggerManual, kPressureCritical, 1, false); });
  for (int i = 0; i < 1000 && slow.started.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(slow.started.load() == 1);
  REQUIRE(cache_unregister(id));
  REQUIRE(slow.finished.load() == 1);
  runner.join();
  optimizer_run(kTriggerManual, kPressureCritical, 1, false);
  REQUIRE(slow.started.load() == 1);
}

TEST_CASE("hard limit, fail: allocations past memf's limit fail unless the optimizer frees enough") {
  optimizer_install_hooks();
  optimizer_set_limit_action(LimitAction::kFail);
  const uint64_t base = running_total_bytes();
  set_memory_limit(base + 16 * MiB);
  pressure_limit_changed();

  HeldBlocks held;
  held.block_size = MiB;
  void* p = nullptr;
  int got = 0;
  while ((p = engine_malloc(MiB)) != nullptr && got < 64) {
    held.blocks.push_back(p);
    ++got;
  }
  REQUIRE(p == nullptr);
  REQUIRE(got >= 14);
  REQUIRE(got <= 16);
  REQUIRE(optimizer_admit_counts().refused > 0);
  bool threw = false;
  try {
    void* q = engine_new(MiB);
    engine_free(q);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  REQUIRE(threw);

  // With the held blocks registered, the allocating thread evicts them itself and goes on.
  const int id = cache_register("held", &HeldBlocks::evict, &held, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the refusal back-off
  void* fresh = engine_malloc(MiB);
  REQUIRE(fresh != nullptr);
  REQUIRE(held.calls.load() >= 1);
  engine_free(fresh);
  REQUIRE(cache_unregister(id));
  for (void* b : held.blocks) engine_free(b);
  set_memory_limit(0);
  pressure_limit_changed();
  optimizer_set_limit_action(LimitAction::kWarn);
}

TEST_CASE("hard limit, warn: the allocation proceeds with one warning line per excursion") {
  optimizer_install_hooks();
  optimizer_set_limit_action(LimitAction::kWarn);
  const uint64_t base = running_total_bytes();
  set_memory_limit(base + 4 * MiB);
  pressure_limit_changed();

  char path[] = "/tmp/memf-warn-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  const int saved = dup(2);
  dup2(fd, 2);
  stderr_stream_record(false);  // memf writes to the file fd 2 is when recorded
  const uint64_t warned_before = optimizer_admit_counts().warned;
  std::vector<void*> blocks;
  for (int i = 0; i < 12; ++i) blocks.push_back(engine_malloc(MiB));
  dup2(saved, 2);
  close(saved);
  stderr_stream_record(false);
  for (void* b : blocks) REQUIRE(b != nullptr);
  REQUIRE(optimizer_admit_counts().warned > warned_before);
  char text[4096] = {};
  REQUIRE(pread(fd, text, sizeof text - 1, 0) > 0);
  close(fd);
  unlink(path);
  const std::string out(text);
  REQUIRE(out.find("pass the memory limit") != std::string::npos);
  REQUIRE(out.find("pass the memory limit") == out.rfind("pass the memory limit"));  // once
  for (void* b : blocks) engine_free(b);
  set_memory_limit(0);
  pressure_limit_changed();
}

TEST_CASE("MEMF_LIMIT_ACTION values") {
  LimitAction action = LimitAction::kWarn;
  REQUIRE(parse_limit_action("fail", &action));
  REQUIRE(action == LimitAction::kFail);
  REQUIRE(parse_limit_action("warn", &action));
  REQUIRE(action == LimitAction::kWarn);
  action = LimitAction::kFail;
  REQUIRE_FALSE(parse_limit_action("sometimes", &action));
  REQUIRE(action == LimitAction::kWarn);
  REQUIRE(parse_limit_action(nullptr, &action));
}

TEST_CASE("a resident limit's synchronous point makes the allocating thread run the optimizer") {
  // A fake cgroup at 97% of its limit: past the synchronous point (95%) from the first step.
  char tmpl[] = "/tmp/memf-sync-XXXXXX";
  const std::string root = mkdtemp(tmpl);
  auto write = [&](const std::string& path, const std::string& text) {
    std::system(("mkdir -p '" + root + path.substr(0, path.rfind('/')) + "'").c_str());
    FILE* f = fopen((root + path).c_str(), "w");
    REQUIRE(f);
    fputs(text.c_str(), f);
    fclose(f);
  };
  write("/proc/self/cgroup", "0::/box\n");
  write("/proc/self/mountinfo", "40 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  write("/sys/fs/cgroup/box/memory.max", std::to_string(1000 * MiB));
  write("/sys/fs/cgroup/box/memory.current", std::to_string(970 * MiB));
  write("/proc/meminfo", "MemTotal: 1073741824 kB\nMemAvailable: 1073741824 kB\n");
  pressure_set_root(root.c_str());
  pressure_poke_and_wait();
  REQUIRE(pressure_status().sync_point > 0);
  REQUIRE(pressure_status().sync_point <= running_total_bytes() + 16 * MiB);

  HeldBlocks held;
  held.block_size = 64 * 1024;
  const int id = cache_register("held", &HeldBlocks::evict, &held, 0);
  {
    std::lock_guard<std::mutex> guard(held.mutex);
    for (int i = 0; i < 64; ++i) held.blocks.push_back(engine_malloc(64 * 1024));
  }
  const uint64_t sync_before = optimizer_admit_counts().sync_runs;
  std::vector<void*> more;
  for (int i = 0; i < 40 && optimizer_admit_counts().sync_runs == sync_before; ++i) more.push_back(engine_malloc(MiB));
  REQUIRE(optimizer_admit_counts().sync_runs > sync_before);
  REQUIRE(held.calls.load() >= 1);
  REQUIRE(held.called_by_tester.load());
  for (void* p : more) engine_free(p);
  REQUIRE(cache_unregister(id));
  for (void* b : held.blocks) engine_free(b);
  pressure_set_root(nullptr);
  pressure_poke_and_wait();
  std::system(("rm -rf " + root).c_str());
}

TEST_CASE("an idle thread's cache drains on its next slow path after the optimizer asked", "[drain]") {
  std::atomic<int> phase{0};
  std::thread worker([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 200; ++i) blocks.push_back(engine_malloc(48));
    for (void* p : blocks) engine_free(p);  // its bin for 48 B keeps some
    phase = 1;
    while (phase.load() != 2) std::this_thread::yield();
    engine_free(engine_malloc(3000));  // another class: an empty bin, so a refill
    phase = 3;
    while (phase.load() != 4) std::this_thread::yield();
  });
  while (phase.load() != 1) std::this_thread::yield();
  unsigned cls = 0;
  while (kSizeClasses[cls].size != 48) ++cls;
  optimizer_run(kTriggerManual, kPressureCritical, 0, true);  // empties the transfer stacks, asks
  const size_t before = central_stats(cls).transfer_blocks;
  phase = 2;
  while (phase.load() != 3) std::this_thread::yield();
  const size_t after = central_stats(cls).transfer_blocks;
  phase = 4;
  worker.join();
  INFO("transfer blocks of 48 B before " << before << ", after " << after);
  REQUIRE(after > before);  // the worker's cached 48-B blocks came back
}

