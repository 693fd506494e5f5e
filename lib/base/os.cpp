#include "os.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "stderr_stream.hpp"

namespace memf::os {

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

bool advise_huge_pages(void* p, size_t bytes) {
  int saved = errno;
  const bool ok = madvise(p, bytes, MADV_HUGEPAGE) == 0;
  errno = saved;
  return ok;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
namespace {
// Set once the kernel has refused the advice as unknown: no more calls that cannot succeed.
constinit std::atomic<bool> g_populate_unsupported{false};
}  // namespace

void populate(void* p, size_t bytes) {
  if (g_populate_unsupported.load(std::memory_order_relaxed)) return;
  int saved = errno;
  if (madvise(p, bytes, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
    g_populate_unsupported.store(true, std::memory_order_relaxed);
  errno = saved;
}

void* remap(void* p, size_t old_bytes, size_t new_bytes) {
  void* q = mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE);
  return q == MAP_FAILED ? nullptr : q;
}

void* remap_to(void* p, size_t old_bytes, size_t new_bytes, void* dest) {
  void* q = mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
  return q == MAP_FAILED ? nullptr : q;
}

namespace {
// 0: not read yet; 1: yes; 2: no.
constinit std::atomic<uint8_t> g_thp_mode{0};
}  // namespace

bool transparent_huge_pages() {
  uint8_t known = g_thp_mode.load(std::memory_order_relaxed);
  if (known == 0) {
    const int saved = errno;
    char text[128] = {};
    const int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)!read(fd, text, sizeof(text) - 1);
      close(fd);
    }
    errno = saved;
    // The selected mode is bracketed: "always [madvise] never".
    known = fd >= 0 && !strstr(text, "[never]") ? 1 : 2;
    g_thp_mode.store(known, std::memory_order_relaxed);
  }
  return known == 1;
}

bool grow_in_place(void* p, size_t old_bytes, size_t new_bytes) {
  int saved = errno;
  const bool ok = mremap(p, old_bytes, new_bytes, 0) != MAP_FAILED;
  errno = saved;
  return ok;
}

namespace {
uint64_t clock_ns(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}
}  // namespace

uint64_t coarse_now_ns() { return clock_ns(CLOCK_MONOTONIC_COARSE); }
uint64_t monotonic_ns() { return clock_ns(CLOCK_MONOTONIC); }

void write_stderr(const char* text, size_t length) {
  const int fd = stderr_stream_fd();
  if (fd < 0) return;
  int saved = errno;
  while (length > 0) {
    ssize_t n = write(fd, text, length);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    text += n;
    length -= size_t(n);
  }
  errno = saved;
}

int start_thread(pthread_t* thread, void* (*main)(void*), bool detached) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  if (detached) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  const int rc = pthread_create(thread, &attr, main, nullptr);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return rc;
}

}  // namespace memf::os
