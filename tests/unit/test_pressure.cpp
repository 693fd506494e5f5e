// Pressure levels, limit discovery from fake cgroup trees, the monitor and its subscriptions.
#include <catch2/catch.hpp>

#include <memf/pressure.hpp>

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
#include "cgroup.hpp"
#include "engine.hpp"
#include "limit.hpp"
#include "monitor.hpp"
#include "proc_files.hpp"
#include "tracker.hpp"

using namespace memf;

namespace {

// A temporary directory laid out like "/" for the files discovery reads.
struct FakeRoot {
  std::string dir;
  FakeRoot() {
    char tmpl[] = "/tmp/memf-pressure-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~FakeRoot() { std::system(("rm -rf " + dir).c_str()); }
  void write(const std::string& path, const std::string& text) const {
    const std::string full = dir + path;
    std::system(("mkdir -p '" + full.substr(0, full.rfind('/')) + "'").c_str());
    FILE* f = fopen(full.c_str(), "w");
    REQUIRE(f != nullptr);
    fputs(text.c_str(), f);
    fclose(f);
  }
};

const char* kMountinfoV1 =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

void v1_group(const FakeRoot& root, const std::string& group, const std::string& limit, uint64_t usage,
              uint64_t inactive) {
  const std::string base = "/sys/fs/cgroup/memory" + group;
  root.write(base + "/memory.limit_in_bytes", limit + "\n");
  root.write(base + "/memory.usage_in_bytes", std::to_string(usage) + "\n");
  root.write(base + "/memory.stat", "cache 0\nrss 0\ntotal_inactive_file " + std::to_string(inactive) + "\n");
}

constexpr uint64_t MiB = 1 << 20;

}  // namespace

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

TEST_CASE("cgroup v1: the binding limit is found among the ancestors, usage less inactive files") {
  FakeRoot root;
  root.write("/proc/self/cgroup", "9:name=systemd:/\n4:memory:/app/job\n3:cpuset:/\n0::/\n");
  root.write("/proc/self/mountinfo", kMountinfoV1);
  v1_group(root, "", "9223372036854771712", 900 * MiB, 0);
  v1_group(root, "/app", std::to_string(512 * MiB), 300 * MiB, 20 * MiB);
  v1_group(root, "/app/job", "9223372036854771712", 200 * MiB, 10 * MiB);
  CgroupInfo info;
  REQUIRE(discover_cgroup(root.dir.c_str(), &info));
  REQUIRE(info.version == 1);
  REQUIRE(info.limit == 512 * MiB);
  REQUIRE(info.usage == 280 * MiB);
  REQUIRE(info.raw_usage == 300 * MiB);
  REQUIRE(std::string(info.path) == root.dir + "/sys/fs/cgroup/memory/app");

  // v1's own statement of the ancestors' bound counts too.
  root.write("/sys/fs/cgroup/memory/app/job/memory.stat", "total_inactive_file 0\nhierarchical_memory_limit 104857600\n");
  REQUIRE(discover_cgroup(root.dir.c_str(), &info));
  REQUIRE(info.limit == 100 * MiB);
  REQUIRE(std::string(info.path) == root.dir + "/sys/fs/cgroup/memory/app/job");

  // refresh re-reads the same directory.
  root.write("/sys/fs/cgroup/memory/app/job/memory.usage_in_bytes", std::to_string(90 * MiB));
  REQUIRE(refresh_cgroup(&info));
  REQUIRE(info.usage == 90 * MiB);
}

TEST_CASE("cgroup v2: memory.max and memory.high, 'max' means none, namespaced mount roots") {
  FakeRoot root;
  root.write("/proc/self/cgroup", "0::/user.slice/job\n");
  root.write("/proc/self/mountinfo", "40 31 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n");
  auto group = [&](const std::string& g, const std::string& max, const std::string& high, uint64_t current) {
    const std::string base = "/sys/fs/cgroup" + g;
    root.write(base + "/memory.max", max + "\n");
    root.write(base + "/memory.high", high + "\n");
    root.write(base + "/memory.current", std::to_string(current) + "\n");
    root.write(base + "/memory.stat", "anon 1\nfile 2\ninactive_file " + std::to_string(4 * MiB) + "\n");
  };
  group("/user.slice", std::to_string(1024 * MiB), "max", 600 * MiB);
  group("/user.slice/job", "max", std::to_string(500 * MiB), 450 * MiB);
  CgroupInfo info;
  REQUIRE(discover_cgroup(root.dir.c_str(), &info));
  REQUIRE(info.version == 2);
  REQUIRE(info.limit == 500 * MiB);  // memory.high of the job: 446/500 beats 596/1024
  REQUIRE(info.usage == 446 * MiB);

  // Inside a cgroup namespace the mount's root is the cgroup itself.
  FakeRoot ns;
  ns.write("/proc/self/cgroup", "0::/\n");
  ns.write("/proc/self/mountinfo", "40 31 0:38 /user.slice/job /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  ns.write("/sys/fs/cgroup/memory.max", "268435456\n");
  ns.write("/sys/fs/cgroup/memory.current", "1048576\n");
  REQUIRE(discover_cgroup(ns.dir.c_str(), &info));
  REQUIRE(info.limit == 256 * MiB);
  REQUIRE(info.usage == 1 * MiB);

  // No mountinfo: the conventional mount point.
  FakeRoot plain;
  plain.write("/proc/self/cgroup", "0::/svc\n");
  plain.write("/sys/fs/cgroup/svc/memory.max", "max\n");
  plain.write("/sys/fs/cgroup/svc/memory.current", "5\n");
  REQUIRE(discover_cgroup(plain.dir.c_str(), &info));
  REQUIRE(info.version == 2);
  REQUIRE(info.limit == 0);

  FakeRoot none;
  REQUIRE_FALSE(discover_cgroup(none.dir.c_str(), &info));
  REQUIRE(info.version == 0);
}

TEST_CASE("meminfo and PSI files are parsed") {
  FakeRoot root;
  root.write("/proc/meminfo", "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n");
  root.write("/proc/pressure/memory",
             "some avg10=12.50 avg60=1.00 avg300=0.00 total=123\nfull avg10=3.00 avg60=0.00 avg300=0.00 total=45\n");
  uint64_t total = 0, available = 0;
  REQUIRE(read_meminfo(root.dir.c_str(), &total, &available));
  REQUIRE(total == 1000 * 1024);
  REQUIRE(available == 250 * 1024);
  PsiSample psi;
  REQUIRE(read_psi((root.dir + "/proc/pressure/memory").c_str(), &psi));
  REQUIRE(psi.some_avg10 == Approx(0.125));
  REQUIRE(psi.full_avg10 == Approx(0.03));
  REQUIRE(psi.some_total_us == 123);
  REQUIRE(psi.full_total_us == 45);
}

namespace {

// A fake machine with a v1 cgroup of 1000 MiB whose usage the test sets.
struct FakeMachine {
  FakeRoot root;
  FakeMachine() {
    root.write("/proc/self/cgroup", "4:memory:/box\n");
    root.write("/proc/self/mountinfo", kMountinfoV1);
    root.write("/proc/meminfo", "MemTotal: 1073741824 kB\nMemAvailable: 1073741824 kB\n");
    root.write("/proc/pressure/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    usage(0);
    pressure_set_root(root.dir.c_str());
  }
  ~FakeMachine() {
    pressure_set_root(nullptr);
    pressure_poke_and_wait();
  }
  void usage(uint64_t mib) const { v1_group(root, "/box", std::to_string(1000 * MiB), mib * MiB, 0); }
  void psi(double some) const {
    char text[200];
    snprintf(text, sizeof text, "some avg10=%.2f avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
             some * 100);
    root.write("/proc/pressure/memory", text);
  }
};

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
