#include "platform.hpp"

#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace memf {
namespace os {

void* reserve(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void* map(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void unmap(void* p, size_t bytes) {
  int saved = errno;
  munmap(p, bytes);
  errno = saved;
}

void purge(void* p, size_t bytes) {
  int saved = errno;
  madvise(p, bytes, MADV_DONTNEED);
  errno = saved;
}

void* remap(void* p, size_t old_bytes, size_t new_bytes) {
  void* q = mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE);
  return q == MAP_FAILED ? nullptr : q;
}

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

void write_stderr(const char* text, size_t length) {
  int saved = errno;
  while (length > 0) {
    ssize_t n = write(2, text, length);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    text += n;
    length -= size_t(n);
  }
  errno = saved;
}

}  // namespace os

void SpinLock::yield() { sched_yield(); }

namespace {
constexpr size_t kChunkBytes = 1 << 20;
constinit SpinLock g_internal_lock;
char* g_chunk_cursor = nullptr;
char* g_chunk_end = nullptr;
}  // namespace

void* internal_alloc(size_t bytes, size_t align) {
  LockGuard guard(g_internal_lock);
  uintptr_t cursor = round_up(uintptr_t(g_chunk_cursor), align);
  if (g_chunk_cursor == nullptr || cursor + bytes > uintptr_t(g_chunk_end)) {
    size_t chunk = bytes + align > kChunkBytes ? round_up(bytes + align, kPageSize) : kChunkBytes;
    char* fresh = static_cast<char*>(os::map(chunk));
    if (fresh == nullptr) return nullptr;
    g_chunk_cursor = fresh;
    g_chunk_end = fresh + chunk;
    cursor = round_up(uintptr_t(fresh), align);
  }
  g_chunk_cursor = reinterpret_cast<char*>(cursor + bytes);
  return reinterpret_cast<void*>(cursor);
}

}  // namespace memf

namespace memf {
SpinLock& internal_alloc_lock() { return g_internal_lock; }
}  // namespace memf
