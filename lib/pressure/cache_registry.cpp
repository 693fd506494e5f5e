#include "cache_registry.hpp"

#include <pthread.h>

#include <cstdio>

#include "compiler.hpp"

namespace memf {
namespace {

constexpr unsigned kMaxCaches = 64;

struct CacheEntry {
  char name[48];
  size_t (*evict)(size_t, void*);
  void* ctx;
  int priority;
  int id;  // 0 = free slot
};

// g_cache_lock guards the registry; it is never held while a cache's evict runs.
constinit pthread_mutex_t g_cache_lock = PTHREAD_MUTEX_INITIALIZER;
constinit pthread_cond_t g_cache_cond = PTHREAD_COND_INITIALIZER;
constinit CacheEntry g_caches[kMaxCaches] = {};
constinit int g_next_cache_id = 1;
constinit int g_cache_inflight = 0;  // the cache whose evict runs now
// Set while the calling thread runs an evict callback: a cache unregistering itself from inside
// its evict must not wait for that evict to end.
__thread bool t_evicting MEMF_TLS = false;

}  // namespace

uint64_t evict_caches(uint64_t wanted, unsigned* called) {
  // Lowest priority first; among equals, the earlier registration.
  CacheEntry order[kMaxCaches];
  unsigned count = 0;
  pthread_mutex_lock(&g_cache_lock);
  for (const CacheEntry& entry : g_caches)
    if (entry.id) order[count++] = entry;
  pthread_mutex_unlock(&g_cache_lock);
  for (unsigned i = 1; i < count; ++i)
    for (unsigned j = i; j > 0 && (order[j].priority < order[j - 1].priority ||
                                   (order[j].priority == order[j - 1].priority && order[j].id < order[j - 1].id));
         --j) {
      const CacheEntry tmp = order[j];
      order[j] = order[j - 1];
      order[j - 1] = tmp;
    }
  uint64_t freed = 0;
  for (unsigned i = 0; i < count && freed < wanted; ++i) {
    pthread_mutex_lock(&g_cache_lock);
    bool live = false;
    for (const CacheEntry& entry : g_caches)
      if (entry.id == order[i].id) live = true;
    if (live) g_cache_inflight = order[i].id;
    pthread_mutex_unlock(&g_cache_lock);
    if (!live) continue;
    t_evicting = true;
    const size_t got = order[i].evict(size_t(wanted - freed), order[i].ctx);
    t_evicting = false;
    ++*called;
    freed += got;
    pthread_mutex_lock(&g_cache_lock);
    g_cache_inflight = 0;
    pthread_cond_broadcast(&g_cache_cond);
    pthread_mutex_unlock(&g_cache_lock);
  }
  return freed;
}

int cache_register(const char* name, size_t (*evict)(size_t, void*), void* ctx, int priority) {
  if (!evict) return -1;
  pthread_mutex_lock(&g_cache_lock);
  int id = -1;
  for (CacheEntry& entry : g_caches) {
    if (entry.id == 0) {
      id = g_next_cache_id++;
      if (g_next_cache_id <= 0) g_next_cache_id = 1;
      snprintf(entry.name, sizeof entry.name, "%s", name ? name : "");
      entry.evict = evict;
      entry.ctx = ctx;
      entry.priority = priority;
      entry.id = id;
      break;
    }
  }
  pthread_mutex_unlock(&g_cache_lock);
  return id;
}

bool cache_unregister(int id) {
  if (id <= 0) return false;
  pthread_mutex_lock(&g_cache_lock);
  bool found = false;
  for (CacheEntry& entry : g_caches) {
    if (entry.id == id) {
      entry = CacheEntry{};
      found = true;
    }
  }
  // An evict of this cache may be running on another thread: wait for it. From inside that
  // evict (a cache unregistering itself) waiting would never end.
  while (found && g_cache_inflight == id && !t_evicting) pthread_cond_wait(&g_cache_cond, &g_cache_lock);
  pthread_mutex_unlock(&g_cache_lock);
  return found;
}

size_t registered_cache_count() {
  pthread_mutex_lock(&g_cache_lock);
  size_t count = 0;
  for (const CacheEntry& entry : g_caches)
    if (entry.id) ++count;
  pthread_mutex_unlock(&g_cache_lock);
  return count;
}

void cache_registry_lock() { pthread_mutex_lock(&g_cache_lock); }
void cache_registry_unlock() { pthread_mutex_unlock(&g_cache_lock); }
void cache_registry_reset_after_fork() {
  g_cache_lock = PTHREAD_MUTEX_INITIALIZER;
  g_cache_cond = PTHREAD_COND_INITIALIZER;
  g_cache_inflight = 0;
}

}  // namespace memf
