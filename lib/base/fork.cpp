#include "fork.hpp"

#include <pthread.h>

#include <atomic>

#include "spin_lock.hpp"

namespace memf {
namespace {

constinit std::atomic<const ForkHandlers*> g_ranks[kForkRanks] = {};
constinit ForkHandlers g_storage[kForkRanks] = {};
constinit SpinLock g_register_lock;
constinit bool g_dispatchers_registered = false;

void prepare_all() {
  for (unsigned rank = 0; rank < kForkRanks; ++rank)
    if (const ForkHandlers* h = g_ranks[rank].load(std::memory_order_acquire)) h->prepare();
}

void parent_all() {
  for (unsigned rank = kForkRanks; rank-- > 0;)
    if (const ForkHandlers* h = g_ranks[rank].load(std::memory_order_acquire)) h->parent();
}

void child_all() {
  g_register_lock.reset_after_fork();  // a registration cut short by the fork in another thread
  for (unsigned rank = kForkRanks; rank-- > 0;)
    if (const ForkHandlers* h = g_ranks[rank].load(std::memory_order_acquire)) h->child();
}

}  // namespace

void fork_register(ForkRank rank, const ForkHandlers& handlers) {
  if (rank >= kForkRanks || g_ranks[rank].load(std::memory_order_acquire)) return;
  LockGuard guard(g_register_lock);
  if (g_ranks[rank].load(std::memory_order_relaxed)) return;
  if (!g_dispatchers_registered) {
    // Called from the first allocation: glibc's pthread_atfork does not allocate for its first
    // handlers (2.36); the allocator is working by then in any case.
    pthread_atfork(prepare_all, parent_all, child_all);
    g_dispatchers_registered = true;
  }
  g_storage[rank] = handlers;
  g_ranks[rank].store(&g_storage[rank], std::memory_order_release);
}

}  // namespace memf
