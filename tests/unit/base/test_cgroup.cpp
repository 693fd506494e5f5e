// base/cgroup: finding this process's memory cgroup and its binding limit in fake trees laid
// out like /proc and /sys/fs/cgroup, v1 and v2.
#include <catch2/catch.hpp>

#include <string>

#include "base/fake_root.hpp"
#include "cgroup.hpp"

using namespace memf;
using fake_root::FakeRoot;
using fake_root::kMountinfoV1;
using fake_root::MiB;
using fake_root::v1_group;

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
