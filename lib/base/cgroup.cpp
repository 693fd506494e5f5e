#include "cgroup.hpp"

#include <cerrno>
#include <initializer_list>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "proc_files.hpp"

// Paths longer than the buffers are cut and then simply fail to open.
#pragma GCC diagnostic ignored "-Wformat-truncation"

namespace memf {

namespace {

// A limit file's value: a number, or "max" / a v1 "unlimited" figure (>= 2^62) meaning none (0).
bool read_limit(const char* path, uint64_t* out) {
  char buf[64];
  if (read_small_file(path, buf, sizeof buf) <= 0) return false;
  if (strncmp(buf, "max", 3) == 0) {
    *out = 0;
    return true;
  }
  char* end;
  errno = 0;
  const unsigned long long value = strtoull(buf, &end, 10);
  if (end == buf || errno) return false;
  *out = value >= (1ull << 62) ? 0 : value;
  return true;
}

bool read_number(const char* path, uint64_t* out) {
  char buf[64];
  if (read_small_file(path, buf, sizeof buf) <= 0) return false;
  char* end;
  const unsigned long long value = strtoull(buf, &end, 10);
  if (end == buf) return false;
  *out = value;
  return true;
}

// The value of "key <number>" in a memory.stat-like file; false when absent.
bool stat_field(const char* text, const char* key, uint64_t* out) {
  const size_t key_len = strlen(key);
  for (const char* line = text; line && *line;) {
    if (strncmp(line, key, key_len) == 0 && line[key_len] == ' ') {
      *out = strtoull(line + key_len + 1, nullptr, 10);
      return true;
    }
    line = strchr(line, '\n');
    if (line) ++line;
  }
  return false;
}

// Limit and usage of one cgroup directory. limit 0 = none.
bool read_cgroup_dir(int version, const char* dir, uint64_t* limit, uint64_t* usage, uint64_t* raw) {
  char path[600];
  uint64_t lim = 0, used = 0;
  char stat[4096];
  if (version == 2) {
    if (!join_path(path, sizeof path, dir, "/memory.max") || !read_limit(path, &lim)) return false;
    uint64_t high = 0;
    // memory.high throttles and reclaims hard: for this purpose it is a limit too.
    if (join_path(path, sizeof path, dir, "/memory.high") && read_limit(path, &high) && high && (!lim || high < lim)) lim = high;
    if (!join_path(path, sizeof path, dir, "/memory.current") || !read_number(path, &used)) used = 0;
    *raw = used;
    uint64_t inactive = 0;
    if (join_path(path, sizeof path, dir, "/memory.stat") && read_small_file(path, stat, sizeof stat) > 0 &&
        stat_field(stat, "inactive_file", &inactive) && inactive < used)
      used -= inactive;
  } else {
    if (!join_path(path, sizeof path, dir, "/memory.limit_in_bytes") || !read_limit(path, &lim)) return false;
    if (!join_path(path, sizeof path, dir, "/memory.usage_in_bytes") || !read_number(path, &used)) used = 0;
    *raw = used;
    uint64_t inactive = 0, hierarchical = 0;
    if (join_path(path, sizeof path, dir, "/memory.stat") && read_small_file(path, stat, sizeof stat) > 0) {
      if ((stat_field(stat, "total_inactive_file", &inactive) || stat_field(stat, "inactive_file", &inactive)) &&
          inactive < used)
        used -= inactive;
      // v1 states the ancestors' bound itself.
      if (stat_field(stat, "hierarchical_memory_limit", &hierarchical) && hierarchical < (1ull << 62) &&
          (!lim || hierarchical < lim))
        lim = hierarchical;
    }
  }
  *limit = lim;
  *usage = used;
  return true;
}

struct Mount {
  char point[400];
  char root[400];
};

// Finds the mount of the v1 memory controller (version 1) or of cgroup2 (version 2).
bool find_mount(const char* root, int version, Mount* out) {
  char path[600];
  char text[16384];
  if (join_path(path, sizeof path, root, "/proc/self/mountinfo") && read_small_file(path, text, sizeof text) > 0) {
    for (char* line = text; line && *line;) {
      char* next = strchr(line, '\n');
      if (next) *next++ = '\0';
      // id parent dev root mountpoint options... - fstype source superoptions
      char mroot[400], point[400];
      const char* sep = strstr(line, " - ");
      if (sep && sscanf(line, "%*s %*s %*s %399s %399s", mroot, point) == 2) {
        char fstype[32] = {}, super[400] = {};
        sscanf(sep + 3, "%31s %*s %399s", fstype, super);
        bool match = false;
        if (version == 2) match = strcmp(fstype, "cgroup2") == 0;
        else if (strcmp(fstype, "cgroup") == 0) {
          for (char* opt = strtok(super, ","); opt; opt = strtok(nullptr, ","))
            if (strcmp(opt, "memory") == 0) match = true;
        }
        if (match) {
          snprintf(out->point, sizeof out->point, "%s", point);
          snprintf(out->root, sizeof out->root, "%s", mroot);
          return true;
        }
      }
      line = next;
    }
    return false;
  }
  // No mountinfo: the conventional places.
  snprintf(out->point, sizeof out->point, "%s", version == 2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory");
  snprintf(out->root, sizeof out->root, "/");
  return true;
}

// The cgroup directory of `cgroup_path` under the mount (the path is relative to the mount's
// root; inside a cgroup namespace the mount root may be deeper than "/").
void cgroup_dir(const char* root, const Mount& mount, const char* cgroup_path, char* out, size_t capacity) {
  const char* rest = cgroup_path;
  const size_t root_len = strlen(mount.root);
  if (strcmp(mount.root, "/") != 0) {
    if (strncmp(cgroup_path, mount.root, root_len) == 0 && (cgroup_path[root_len] == '/' || !cgroup_path[root_len]))
      rest = cgroup_path + root_len;
    else rest = "";  // not below the mount root (namespaced view): the mount itself is our cgroup
  }
  if (strcmp(rest, "/") == 0) rest = "";
  char point[600];
  join_path(point, sizeof point, root, mount.point);
  snprintf(out, capacity, "%s%s", point, rest);
}

}  // namespace

bool refresh_cgroup(CgroupInfo* info) {
  if (!info->version) return false;
  uint64_t limit = 0, usage = 0, raw = 0;
  if (!read_cgroup_dir(info->version, info->path, &limit, &usage, &raw)) return false;
  info->limit = limit;
  info->usage = usage;
  info->raw_usage = raw;
  return true;
}

bool discover_cgroup(const char* root, CgroupInfo* out) {
  *out = CgroupInfo{};
  char path[600];
  char text[4096];
  if (!join_path(path, sizeof path, root, "/proc/self/cgroup") || read_small_file(path, text, sizeof text) <= 0) return false;
  char v1_path[512] = {}, v2_path[512] = {};
  bool have_v1 = false, have_v2 = false;
  for (char* line = text; line && *line;) {
    char* next = strchr(line, '\n');
    if (next) *next++ = '\0';
    // hierarchy-id:controllers:path
    char* first = strchr(line, ':');
    char* second = first ? strchr(first + 1, ':') : nullptr;
    if (second) {
      *second = '\0';
      const char* controllers = first + 1;
      const char* cg = second + 1;
      if (strncmp(line, "0:", 2) == 0 && *controllers == '\0') {
        snprintf(v2_path, sizeof v2_path, "%s", cg);
        have_v2 = true;
      } else {
        char list[256];
        snprintf(list, sizeof list, "%s", controllers);
        for (char* c = strtok(list, ","); c; c = strtok(nullptr, ","))
          if (strcmp(c, "memory") == 0) {
            snprintf(v1_path, sizeof v1_path, "%s", cg);
            have_v1 = true;
          }
      }
    }
    line = next;
  }
  // v1 memory controller first: on a hybrid system the v2 tree has no memory controller.
  for (int version : {1, 2}) {
    if ((version == 1 && !have_v1) || (version == 2 && !have_v2)) continue;
    Mount mount;
    if (!find_mount(root, version, &mount)) continue;
    char dir[512];
    cgroup_dir(root, mount, version == 1 ? v1_path : v2_path, dir, sizeof dir);
    char mount_dir[600];
    join_path(mount_dir, sizeof mount_dir, root, mount.point);
    // Walk up to the mount: the binding limit is the one with the least headroom.
    bool any = false;
    double best_fraction = -1;
    for (;;) {
      uint64_t limit = 0, usage = 0, raw = 0;
      if (read_cgroup_dir(version, dir, &limit, &usage, &raw)) {
        if (!any) {
          out->version = version;
          out->usage = usage;
          out->raw_usage = raw;
          snprintf(out->path, sizeof out->path, "%s", dir);
          any = true;
        }
        if (limit) {
          const double fraction = double(usage) / double(limit);
          if (fraction > best_fraction) {
            best_fraction = fraction;
            out->limit = limit;
            out->usage = usage;
            out->raw_usage = raw;
            snprintf(out->path, sizeof out->path, "%s", dir);
          }
        }
      }
      if (strcmp(dir, mount_dir) == 0 || strlen(dir) <= strlen(mount_dir)) break;
      char* slash = strrchr(dir, '/');
      if (!slash) break;
      *slash = '\0';
    }
    if (any) return true;
  }
  return false;
}

}  // namespace memf
