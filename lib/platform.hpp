// Operating-system primitives used inside the allocator. Nothing here calls malloc.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#define MEMF_LIKELY(x) __builtin_expect(!!(x), 1)
#define MEMF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MEMF_NOINLINE __attribute__((noinline, noipa))
#define MEMF_ALWAYS_INLINE inline __attribute__((always_inline))
#define MEMF_TLS __attribute__((tls_model("initial-exec")))
// On the declarations of globals the fast paths read: lets the compiler address them directly
// (RIP-relative) instead of through the GOT.
#define MEMF_HIDDEN __attribute__((visibility("hidden")))

namespace memf {

constexpr size_t kPageSize = 4096;

inline size_t round_up(size_t n, size_t align) { return (n + align - 1) & ~(align - 1); }

namespace os {
// Reserves address space without committing memory (MAP_NORESERVE); nullptr on failure.
void* reserve(size_t bytes);
// Maps fresh zeroed read-write memory; nullptr on failure.
void* map(size_t bytes);
void unmap(void* p, size_t bytes);
// Gives the pages back to the OS; the range stays mapped and reads as zero afterwards.
void purge(void* p, size_t bytes);
// Grows or moves a mapping (mremap); nullptr on failure.
void* remap(void* p, size_t old_bytes, size_t new_bytes);
uint64_t now_ns();  // CLOCK_MONOTONIC_COARSE: a few ns, no syscall
void write_stderr(const char* text, size_t length);
}  // namespace os

// A test-and-test-and-set lock for short critical sections on slow paths. It never allocates,
// and a forked child can reset it (the parent holds every lock across fork()).
class SpinLock {
 public:
  void lock() {
    for (unsigned spins = 0;; ++spins) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        if (spins++ > 64) yield();
        else __builtin_ia32_pause();
      }
    }
  }
  bool try_lock() { return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() { locked_.store(false, std::memory_order_release); }
  void reset_after_fork() { locked_.store(false, std::memory_order_relaxed); }

 private:
  static void yield();
  std::atomic<bool> locked_{false};
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

// Bump allocator for the allocator's own long-lived records (thread caches, tables).
// Memory comes from mmap in 1 MiB chunks and is never returned; callers recycle records.
void* internal_alloc(size_t bytes, size_t align = 64);

}  // namespace memf

namespace memf {
// The lock behind internal_alloc, held across fork() like every other engine lock.
SpinLock& internal_alloc_lock();
}  // namespace memf
