// Blocks in memory of their own (mmap) that pass from thread to thread: a per-thread table kept
// out of static TLS (glibc zeroes static TLS for every new thread) is mapped on the thread's first
// need and, at the thread's exit, waits here for the next thread as it is; only a fresh block is
// zeroed. Each T links spares through its member `T* next_spare`. Never calls malloc.
// kPerMapping > 1 maps that many blocks at a time (for blocks much smaller than a page), handed
// out fresh one by one before the next mapping.
#pragma once
#include <atomic>
#include <cstddef>

#include "os.hpp"
#include "spin_lock.hpp"

namespace memf {

template <class T, size_t kPerMapping = 1>
class SpareBlocks {
  static_assert(kPerMapping >= 1, "a mapping holds at least one block");

 public:
  // A spare block, else a fresh zeroed one; nullptr when none can be mapped.
  T* take() {
    {
      LockGuard guard(lock_);
      if (T* block = spares_) {
        spares_ = block->next_spare;
        return block;
      }
      // Several per mapping: mapped under the lock, once per kPerMapping fresh blocks.
      if constexpr (kPerMapping > 1) return take_fresh_locked();
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
  // Fresh blocks handed out so far.
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
  // The next block of the last mapping, mapping kPerMapping more when it is used up.
  T* take_fresh_locked() {
    if (fresh_left_ == 0) {
      fresh_ = static_cast<T*>(os::map(sizeof(T) * kPerMapping));
      if (!fresh_) return nullptr;
      fresh_left_ = kPerMapping;
    }
    --fresh_left_;
    mapped_.fetch_add(1, std::memory_order_relaxed);
    return fresh_++;
  }

  SpinLock lock_;
  T* spares_ = nullptr;
  T* fresh_ = nullptr;  // the rest of the last mapping (kPerMapping > 1)
  size_t fresh_left_ = 0;
  std::atomic<size_t> mapped_{0};
};

}  // namespace memf
