#include "sources.hpp"

#include <pthread.h>

#include <cstdio>

#include "cgroup.hpp"
#include "proc_files.hpp"

// Paths longer than the buffers are cut and then simply fail to open.
#pragma GCC diagnostic ignored "-Wformat-truncation"

namespace memf {
namespace {

// A copy of the monitor's findings (g_src_lock, a leaf).
struct SyncSource {
  int cgroup_version;
  uint64_t cgroup_limit;
  char cgroup_path[512];
  char root[400];
  bool physical;
  double sync_start;
};
constinit pthread_mutex_t g_src_lock = PTHREAD_MUTEX_INITIALIZER;
constinit SyncSource g_src = {};

}  // namespace

void sources_publish(int cgroup_version, uint64_t cgroup_limit, const char* cgroup_path, const char* root,
                     bool physical, double sync_start) {
  pthread_mutex_lock(&g_src_lock);
  g_src.cgroup_version = cgroup_version;
  g_src.cgroup_limit = cgroup_limit;
  snprintf(g_src.cgroup_path, sizeof g_src.cgroup_path, "%s", cgroup_path);
  snprintf(g_src.root, sizeof g_src.root, "%s", root);
  g_src.physical = physical;
  g_src.sync_start = sync_start;
  pthread_mutex_unlock(&g_src_lock);
}

bool pressure_sync_headroom(int64_t* headroom) {
  pthread_mutex_lock(&g_src_lock);
  const SyncSource src = g_src;
  pthread_mutex_unlock(&g_src_lock);
  bool any = false;
  int64_t room = INT64_MAX;
  if (src.cgroup_version) {
    CgroupInfo info{};
    info.version = src.cgroup_version;
    snprintf(info.path, sizeof info.path, "%s", src.cgroup_path);
    if (refresh_cgroup(&info) && info.limit) {
      room = int64_t(src.sync_start * double(info.limit)) - int64_t(info.usage);
      any = true;
    }
  }
  uint64_t total = 0, available = 0;
  if (src.physical && read_meminfo(src.root, &total, &available) && total) {
    const int64_t r = int64_t(src.sync_start * double(total)) - int64_t(total - available);
    if (r < room) room = r;
    any = true;
  }
  if (any) *headroom = room;
  return any;
}

void sources_lock() { pthread_mutex_lock(&g_src_lock); }
void sources_unlock() { pthread_mutex_unlock(&g_src_lock); }
void sources_reset_after_fork() { g_src_lock = PTHREAD_MUTEX_INITIALIZER; }

}  // namespace memf
