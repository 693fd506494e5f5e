// memf's own APIs used by a program: none of memf's memory is the program's leak, and a block
// referenced only from an object in a MemoryPool is in use. The program itself leaks one
// 45-byte block; everything else it allocates is reachable.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <memf/memf.h>
#include <memf/memf.hpp>
#include <memf/memory_pool.hpp>

#include "leaks_common.h"

struct Node {
  char* name;
};

static memf::MemoryPool* g_pool;  // the pool stays; its objects are the program's data

__attribute__((noinline)) static void keep_in_pool_object() {
  Node* node = static_cast<Node*>(g_pool->allocate());
  node->name = static_cast<char*>(malloc(100));
  strcpy(node->name, "only this pool object points here");
}

__attribute__((noinline)) static void leak_own_block() { escape(malloc(45)); }

int main() {
  auto& tracker = memf::MemoryTracker::getInstance();
  const size_t usage = tracker.getCurrentUsage();
  static char gpu_buffer[4096];
  tracker.recordAllocation(gpu_buffer, sizeof gpu_buffer, "gpu");
  const size_t live = tracker.getActiveAllocations().size();
  memf_stats stats;
  memf_get_stats(&stats);
  g_pool = new memf::MemoryPool(sizeof(Node), 64, "nodes");
  keep_in_pool_object();
  leak_own_block();
  printf("own_api: %d %d %d\n", usage > 0, live > 0, stats.allocations > 0);
  clobber_stack();
  return 0;
}
