// Pressure levels, the monitor on fake cgroup trees, and its subscriptions. (Discovering the
// cgroup and parsing /proc files are base's: tests/unit/base/test_cgroup.cpp, test_proc_files.cpp.)
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "accounting.hpp"
#include "base/fake_root.hpp"
#include "engine.hpp"
#include "monitor.hpp"
#include "pressure/fake_machine.hpp"
#include "tracker.hpp"

using namespace memf;
using fake_root::FakeMachine;
using fake_root::FakeRoot;
using fake_root::MiB;

TEST_CASE("levels rise at their thresholds and fall only below the hysteresis band") {
  LevelThresholds t;  // 0.75 / 0.90, hysteresis 0.05
  REQUIRE(thresholds_valid(t));
  REQUIRE(next_level(kPressureNone, 0.50, t) == kPressureNone);
  REQUIRE(next_level(kPressureNone, 0.75, t) == kPressureModerate);
  REQUIRE(next_level(kPressureNone, 0.95, t) == kPressureCritical);
  REQUIRE(next_level(kPressureModerate, 0.72, t) == kPressureModerate);  // inside the band
  REQUIRE(next_level(kPressureModerate, 0.69, t) == kPressureNone);
  REQUIRE(next_level(kPressureCritical, 0.86, t) == kPressureCritical);
  REQUIRE(next_level(kPressureCritical, 0.84, t) == kPressureModerate);
  REQUIRE(next_level(kPressureCritical, 0.10, t) == kPressureNone);
  LevelThresholds bad = t;
  bad.moderate = 0.95;
  REQUIRE_FALSE(thresholds_valid(bad));
  REQUIRE_FALSE(pressure_set_thresholds(bad));
}

TEST_CASE("PSI stall shares raise levels and release them at half the threshold") {
  LevelThresholds t;
  REQUIRE(next_psi_level(kPressureNone, 0.02, 0.0, t) == kPressureNone);
  REQUIRE(next_psi_level(kPressureNone, 0.15, 0.0, t) == kPressureModerate);
  REQUIRE(next_psi_level(kPressureModerate, 0.06, 0.0, t) == kPressureModerate);
  REQUIRE(next_psi_level(kPressureModerate, 0.04, 0.0, t) == kPressureNone);
  REQUIRE(next_psi_level(kPressureNone, 0.30, 0.12, t) == kPressureCritical);
  REQUIRE(next_psi_level(kPressureCritical, 0.30, 0.04, t) == kPressureModerate);
}

namespace {

struct Recorder {
  std::mutex mutex;
  std::vector<int> levels;
  static void callback(int level, void* ctx) {
    auto* self = static_cast<Recorder*>(ctx);
    std::lock_guard<std::mutex> guard(self->mutex);
    self->levels.push_back(level);
  }
  std::vector<int> get() {
    std::lock_guard<std::mutex> guard(mutex);
    return levels;
  }
};

}  // namespace

TEST_CASE("the monitor follows a cgroup's usage with hysteresis and tells subscribers in order") {
  FakeMachine machine;
  pressure_poke_and_wait();
  REQUIRE(pressure_level() == kPressureNone);
  Recorder recorder;
  const int id = pressure_subscribe(&Recorder::callback, &recorder);
  REQUIRE(id > 0);

  const std::pair<uint64_t, int> steps[] = {
      {800, kPressureModerate}, {950, kPressureCritical}, {860, kPressureCritical},
      {720, kPressureModerate}, {650, kPressureNone},     {740, kPressureNone},
  };
  for (const auto& [mib, expected] : steps) {
    machine.usage(mib);
    pressure_poke_and_wait();
    INFO("usage " << mib << " MiB");
    REQUIRE(pressure_level() == expected);
  }
  const PressureStatus status = pressure_status();
  REQUIRE(status.cgroup_version == 1);
  REQUIRE(status.cgroup_limit == 1000 * MiB);
  REQUIRE(status.limit_source == kSourceCgroup);
  REQUIRE(pressure_unsubscribe(id));
  REQUIRE_FALSE(pressure_unsubscribe(id));
  REQUIRE(recorder.get() == std::vector<int>{kPressureModerate, kPressureCritical, kPressureModerate, kPressureNone});
}

TEST_CASE("PSI stalls raise the level when the usage does not") {
  FakeMachine machine;
  machine.usage(100);
  machine.psi(0.20);
  pressure_poke_and_wait();
  REQUIRE(pressure_level() == kPressureModerate);
  REQUIRE(pressure_status().psi_some >= 0.19);
  machine.psi(0.0);
  pressure_poke_and_wait();
  REQUIRE(pressure_level() == kPressureNone);
}

TEST_CASE("a v2 cgroup's own PSI file is read before the system's") {
  FakeRoot root;
  root.write("/proc/self/cgroup", "0::/box\n");
  root.write("/proc/self/mountinfo", "40 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  root.write("/sys/fs/cgroup/box/memory.max", "1048576000\n");
  root.write("/sys/fs/cgroup/box/memory.current", "1048576\n");
  root.write("/sys/fs/cgroup/box/memory.pressure",
             "some avg10=25.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  root.write("/proc/meminfo", "MemTotal: 1073741824 kB\nMemAvailable: 1073741824 kB\n");
  root.write("/proc/pressure/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  pressure_set_root(root.dir.c_str());
  pressure_poke_and_wait();
  REQUIRE(pressure_status().cgroup_version == 2);
  REQUIRE(pressure_status().psi_some >= 0.24);
  REQUIRE(pressure_level() == kPressureModerate);
  root.write("/sys/fs/cgroup/box/memory.pressure",
             "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  pressure_poke_and_wait();
  REQUIRE(pressure_level() == kPressureNone);
  pressure_set_root(nullptr);
  pressure_poke_and_wait();
}

TEST_CASE("unsubscribing waits for a running callback; from inside the callback it does not") {
  FakeMachine machine;
  pressure_poke_and_wait();
  struct Slow {
    std::atomic<int> started{0}, finished{0};
  } slow;
  const int id = pressure_subscribe(
      [](int, void* ctx) {
        auto* s = static_cast<Slow*>(ctx);
        s->started.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        s->finished.fetch_add(1);
      },
      &slow);
  REQUIRE(id > 0);
  machine.usage(800);
  const int fd_level = pressure_level();
  (void)fd_level;
  std::thread poker([] { pressure_poke_and_wait(); });
  for (int i = 0; i < 1000 && slow.started.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(slow.started.load() == 1);
  REQUIRE(pressure_unsubscribe(id));
  REQUIRE(slow.finished.load() == 1);  // returned only after the callback did
  poker.join();
  machine.usage(950);
  pressure_poke_and_wait();
  REQUIRE(slow.started.load() == 1);  // never again

  // A callback that unsubscribes itself.
  struct Self {
    std::atomic<int> id{0}, calls{0};
  } self;
  self.id = pressure_subscribe(
      [](int, void* ctx) {
        auto* s = static_cast<Self*>(ctx);
        s->calls.fetch_add(1);
        pressure_unsubscribe(s->id.load());
      },
      &self);
  machine.usage(100);
  pressure_poke_and_wait();
  machine.usage(950);
  pressure_poke_and_wait();
  REQUIRE(self.calls.load() == 1);
}

TEST_CASE("crossing memf's own limit wakes the monitor from the allocation path") {
  FakeMachine machine;  // no cgroup pressure: only the own limit matters
  pressure_poke_and_wait();
  // A long poll interval: only the watermark can wake the monitor within the test's patience.
  pressure_set_interval_ms(60000);
  pressure_poke_and_wait();
  const uint64_t base = running_total_bytes();
  set_memory_limit(base + 40 * MiB);
  pressure_limit_changed();
  pressure_poke_and_wait();
  REQUIRE(pressure_level() == kPressureNone);
  const uint64_t wakeups_before = pressure_status().wakeups;
  std::vector<void*> blocks;
  for (int i = 0; i < 34; ++i) blocks.push_back(engine_malloc(MiB));  // 85% of the limit
  bool raised = false;
  for (int i = 0; i < 500 && !raised; ++i) {
    raised = pressure_level() != kPressureNone;
    if (!raised) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(raised);
  const PressureStatus status = pressure_status();
  REQUIRE(status.wakeups > wakeups_before);
  REQUIRE(status.limit_source == kSourceOwn);
  for (void* p : blocks) engine_free(p);
  set_memory_limit(0);
  pressure_limit_changed();
  pressure_set_interval_ms(100);
  pressure_poke_and_wait();
  REQUIRE(pressure_level() == kPressureNone);
}

TEST_CASE("a forked child gets a monitor of its own on first use") {
#if defined(__SANITIZE_THREAD__)
  WARN("skipped: ThreadSanitizer does not support starting threads after a multi-threaded fork");
  return;
#endif
  FakeMachine machine;
  pressure_poke_and_wait();
  const uint64_t parent_evaluations = pressure_status().evaluations;
  const pid_t child = fork();
  if (child == 0) {
    machine.usage(950);
    pressure_poke_and_wait();
    const bool ok = pressure_level() == kPressureCritical;
    _exit(ok ? 0 : 1);
  }
  REQUIRE(child > 0);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  // The parent's monitor still answers.
  machine.usage(10);
  pressure_poke_and_wait();
  REQUIRE(pressure_status().evaluations > parent_evaluations);
  REQUIRE(pressure_level() == kPressureNone);
}
