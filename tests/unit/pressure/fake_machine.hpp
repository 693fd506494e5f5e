// A fake machine for the pressure monitor: a v1 memory cgroup of 1000 MiB whose usage the test
// sets, and the PSI file, under a fake root the monitor reads instead of "/" while it lives.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include "base/fake_root.hpp"
#include "monitor.hpp"

namespace fake_root {

struct FakeMachine {
  FakeRoot root;
  FakeMachine() {
    root.write("/proc/self/cgroup", "4:memory:/box\n");
    root.write("/proc/self/mountinfo", kMountinfoV1);
    root.write("/proc/meminfo", "MemTotal: 1073741824 kB\nMemAvailable: 1073741824 kB\n");
    root.write("/proc/pressure/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    usage(0);
    memf::pressure_set_root(root.dir.c_str());
  }
  ~FakeMachine() {
    memf::pressure_set_root(nullptr);
    memf::pressure_poke_and_wait();
  }
  void usage(uint64_t mib) const { v1_group(root, "/box", std::to_string(1000 * MiB), mib * MiB, 0); }
  void psi(double some) const {
    char text[200];
    snprintf(text, sizeof text, "some avg10=%.2f avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
             some * 100);
    root.write("/proc/pressure/memory", text);
  }
};

}  // namespace fake_root
