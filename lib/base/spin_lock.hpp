// The lock of memf's slow paths: test-and-test-and-set, a CPU relax hint while it spins, then
// sched_yield. It never allocates, and a forked child can reset it (the parent holds every lock
// across fork(): fork.hpp).
#pragma once
#include <atomic>
#include <cstdint>

#include "thread_pointer.hpp"

namespace memf {

// Tells the CPU that this is a spin-wait loop (x86 pause, Arm yield); on other machines only a
// compiler barrier.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#else
  asm volatile("" ::: "memory");
#endif
}

// Each lock knows the thread that holds it (its thread pointer), so that a thread that asks again
// for a lock it holds, which can only be memf re-entered from a signal handler that interrupted
// it inside memf, stops with a message instead of spinning forever.
class SpinLock {
 public:
  void lock() {
    for (unsigned spins = 0;; ++spins) {
      if (!locked_.exchange(true, std::memory_order_acquire)) {
        owner_.store(thread_pointer(), std::memory_order_relaxed);
        return;
      }
      if (owner_.load(std::memory_order_relaxed) == thread_pointer()) reentered();
      while (locked_.load(std::memory_order_relaxed)) {
        if (spins++ > 64) yield();
        else cpu_relax();
      }
    }
  }
  bool try_lock() {
    if (locked_.load(std::memory_order_relaxed) || locked_.exchange(true, std::memory_order_acquire)) return false;
    owner_.store(thread_pointer(), std::memory_order_relaxed);
    return true;
  }
  void unlock() {
    owner_.store(0, std::memory_order_relaxed);
    locked_.store(false, std::memory_order_release);
  }
  void reset_after_fork() {
    owner_.store(0, std::memory_order_relaxed);
    locked_.store(false, std::memory_order_relaxed);
  }

 private:
  static void yield();
  // Writes why and aborts: the lock can never be released (its holder is this thread, below us).
  [[noreturn]] static void reentered();
  std::atomic<bool> locked_{false};
  std::atomic<uintptr_t> owner_{0};
};

class LockGuard {
 public:
  explicit LockGuard(SpinLock& lock) : lock_(lock) { lock_.lock(); }
  ~LockGuard() { lock_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  SpinLock& lock_;
};

}  // namespace memf
