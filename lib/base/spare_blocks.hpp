// Blocks in memory of their own (mmap) that pass from thread to thread: a per-thread table kept
// out of static TLS (glibc zeroes static TLS for every new thread) is mapped on the thread's first
// need and, at the thread's exit, waits here for the next thread as it is; only a fresh block is
// zeroed. Each T links spares through its member `T* next_spare`. Never calls malloc.
#pragma once
#include <atomic>
#include <cstddef>

#include "os.hpp"
#include "spin_lock.hpp"

namespace memf {

template <class T>
class SpareBlocks {
 public:
  // A spare block, else a fresh zeroed one; nullptr when none can be mapped.
  T* take() {
    {
      LockGuard guard(lock_);
      if (T* block = spares_) {
        spares_ = block->next_spare;
        return block;
      }
    }
    T* block = static_cast<T*>(os::map(sizeof(T)));
    if (block) mapped_.fetch_add(1, std::memory_order_relaxed);
    return block;
  }
  void give(T* block) {
    LockGuard guard(lock_);
    block->next_spare = spares_;
    spares_ = block;
  }
  size_t mapped() const { return mapped_.load(std::memory_order_relaxed); }
  size_t spare() {
    LockGuard guard(lock_);
    size_t count = 0;
    for (T* block = spares_; block; block = block->next_spare) ++count;
    return count;
  }
  // fork(): the prepare handler locks, the parent unlocks, the child resets.
  void lock() { lock_.lock(); }
  void unlock() { lock_.unlock(); }
  void reset_after_fork() { lock_.reset_after_fork(); }

 private:
  SpinLock lock_;
  T* spares_ = nullptr;
  std::atomic<size_t> mapped_{0};
};

}  // namespace memf
