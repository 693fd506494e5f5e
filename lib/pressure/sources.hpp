// What the optimizer reads inside an allocation about the resident limits (the cgroup's and
// physical memory's): where they are, as the monitor last found them, and their headroom now.
#pragma once
#include <cstdint>

namespace memf {

// The monitor publishes each evaluation's findings: the cgroup holding the binding limit
// (version 0: none with a limit), the file system root, whether physical memory counts, and the
// fraction of a limit from which allocations run the optimizer themselves.
void sources_publish(int cgroup_version, uint64_t cgroup_limit, const char* cgroup_path, const char* root,
                     bool physical, double sync_start);

// The resident sources' (cgroup, physical memory) smallest headroom, read now, to the point where
// allocations run the optimizer themselves: negative when past it. False when there is no such
// source. Reads two or three small files; takes only a leaf lock.
bool pressure_sync_headroom(int64_t* headroom);

// fork(): the sources' lock (a leaf), taken by the monitor's handlers after its own.
void sources_lock();
void sources_unlock();
void sources_reset_after_fork();

}  // namespace memf
