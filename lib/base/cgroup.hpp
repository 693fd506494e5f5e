// The memory cgroup this process runs in (v1 or v2): where it is, its binding limit and usage.
#pragma once
#include <cstdint>

namespace memf {

struct CgroupInfo {
  int version = 0;          // 0: no memory cgroup found, 1 or 2
  uint64_t limit = 0;       // the binding limit (the lowest headroom among the cgroup and its ancestors); 0 = none
  uint64_t usage = 0;       // that cgroup's usage less its inactive file cache
  uint64_t raw_usage = 0;   // memory.current / memory.usage_in_bytes as read
  char path[512] = {};      // directory of the cgroup that holds the binding limit
};
// Finds this process's memory cgroup through root/proc/self/cgroup and root/proc/self/mountinfo
// (or the conventional mount points when mountinfo names none). False when none is found.
bool discover_cgroup(const char* root, CgroupInfo* out);
// Re-reads limit and usage of the directory discover_cgroup found (cheap: three small files).
bool refresh_cgroup(CgroupInfo* info);

}  // namespace memf
