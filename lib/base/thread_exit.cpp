#include "thread_exit.hpp"

#include <pthread.h>

#include <atomic>

#include "compiler.hpp"
#include "spin_lock.hpp"

namespace memf {
namespace {

constinit std::atomic<void (*)()> g_handlers[kThreadExitRanks] = {};
constinit SpinLock g_key_lock;
constinit std::atomic<bool> g_key_ready{false};
pthread_key_t g_key;
__thread bool t_armed MEMF_TLS = false;

void run_handlers(void*) {
  for (unsigned rank = 0; rank < kThreadExitRanks; ++rank)
    if (void (*handler)() = g_handlers[rank].load(std::memory_order_acquire)) handler();
}

}  // namespace

void thread_exit_register(ThreadExitRank rank, void (*handler)()) {
  if (rank >= kThreadExitRanks) return;
  if (!g_key_ready.load(std::memory_order_acquire)) {
    LockGuard guard(g_key_lock);
    if (!g_key_ready.load(std::memory_order_relaxed) && pthread_key_create(&g_key, run_handlers) == 0)
      g_key_ready.store(true, std::memory_order_release);
  }
  void (*none)() = nullptr;
  g_handlers[rank].compare_exchange_strong(none, handler, std::memory_order_acq_rel);
}

void thread_exit_arm() {
  if (t_armed || !g_key_ready.load(std::memory_order_acquire)) return;
  t_armed = true;
  // The value only has to be non-null for the destructor to run; each handler finds its own
  // state in its thread-locals.
  pthread_setspecific(g_key, &t_armed);
}

}  // namespace memf
