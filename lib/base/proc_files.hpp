// Small files of /proc (and of cgroupfs: cgroup.hpp), read without allocating: the pressure
// monitor reads them while the allocator may be under pressure, and the optimizer inside an
// allocation. Every function takes the file system root ("/" normally) so that tests can point
// it at a fake tree.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

// Reads the whole small file into buf (NUL-terminated, cut at capacity - 1); bytes read or -1.
long read_small_file(const char* path, char* buf, size_t capacity);

// out = root + a + b, where a root of "/" adds nothing; false when it does not fit.
bool join_path(char* out, size_t capacity, const char* root, const char* a, const char* b = "");

// root/proc/meminfo: MemTotal and MemAvailable in bytes. False when unreadable.
bool read_meminfo(const char* root, uint64_t* total, uint64_t* available);

// A PSI file (/proc/pressure/memory, a v2 cgroup's memory.pressure).
struct PsiSample {
  double some_avg10 = 0, full_avg10 = 0;  // shares (0..1)
  uint64_t some_total_us = 0, full_total_us = 0;
};
bool read_psi(const char* path, PsiSample* out);

// This process's resident bytes (/proc/self/statm); 0 when unreadable.
uint64_t resident_bytes();

}  // namespace memf
