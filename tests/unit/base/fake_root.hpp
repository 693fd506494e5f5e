// A temporary directory laid out like "/" for the files memf reads about its limits (cgroup
// discovery, /proc/meminfo, PSI): base/cgroup.hpp and base/proc_files.hpp take the root, so tests
// of them and of the pressure monitor point them here.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

#include <unistd.h>

namespace fake_root {

constexpr uint64_t MiB = 1 << 20;

struct FakeRoot {
  std::string dir;
  FakeRoot() {
    char tmpl[] = "/tmp/memf-pressure-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~FakeRoot() { std::system(("rm -rf " + dir).c_str()); }
  FakeRoot(const FakeRoot&) = delete;
  FakeRoot& operator=(const FakeRoot&) = delete;
  void write(const std::string& path, const std::string& text) const {
    const std::string full = dir + path;
    std::system(("mkdir -p '" + full.substr(0, full.rfind('/')) + "'").c_str());
    FILE* f = fopen(full.c_str(), "w");
    REQUIRE(f != nullptr);
    fputs(text.c_str(), f);
    fclose(f);
  }
};

// A v1 hierarchy with the memory controller at /sys/fs/cgroup/memory.
inline const char* const kMountinfoV1 =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// A v1 memory cgroup's limit, usage and inactive file cache.
inline void v1_group(const FakeRoot& root, const std::string& group, const std::string& limit, uint64_t usage,
                     uint64_t inactive) {
  const std::string base = "/sys/fs/cgroup/memory" + group;
  root.write(base + "/memory.limit_in_bytes", limit + "\n");
  root.write(base + "/memory.usage_in_bytes", std::to_string(usage) + "\n");
  root.write(base + "/memory.stat", "cache 0\nrss 0\ntotal_inactive_file " + std::to_string(inactive) + "\n");
}

}  // namespace fake_root
