#include "proc_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace memf {

long read_small_file(const char* path, char* buf, size_t capacity) {
  if (capacity == 0) return -1;
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t used = 0;
  while (used + 1 < capacity) {
    const ssize_t n = read(fd, buf + used, capacity - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += size_t(n);
  }
  close(fd);
  buf[used] = '\0';
  return long(used);
}

bool join_path(char* out, size_t capacity, const char* root, const char* a, const char* b) {
  // "/" as root adds nothing, so paths stay readable in messages.
  if (strcmp(root, "/") == 0) root = "";
  const int n = snprintf(out, capacity, "%s%s%s", root, a, b);
  return n > 0 && size_t(n) < capacity;
}

bool read_meminfo(const char* root, uint64_t* total, uint64_t* available) {
  char path[600];
  char text[8192];
  if (!join_path(path, sizeof path, root, "/proc/meminfo") || read_small_file(path, text, sizeof text) <= 0) return false;
  uint64_t t = 0, a = 0;
  bool have_t = false, have_a = false;
  for (const char* line = text; line && *line;) {
    if (strncmp(line, "MemTotal:", 9) == 0) have_t = sscanf(line + 9, "%lu", &t) == 1;
    else if (strncmp(line, "MemAvailable:", 13) == 0) have_a = sscanf(line + 13, "%lu", &a) == 1;
    line = strchr(line, '\n');
    if (line) ++line;
  }
  if (!have_t || !have_a) return false;
  *total = t * 1024;
  *available = a * 1024;
  return true;
}

bool read_psi(const char* path, PsiSample* out) {
  char text[512];
  if (read_small_file(path, text, sizeof text) <= 0) return false;
  *out = PsiSample{};
  bool some = false;
  for (const char* line = text; line && *line;) {
    double avg10, avg60, avg300;
    unsigned long long total;
    if (sscanf(line, "some avg10=%lf avg60=%lf avg300=%lf total=%llu", &avg10, &avg60, &avg300, &total) == 4) {
      out->some_avg10 = avg10 / 100;
      out->some_total_us = total;
      some = true;
    } else if (sscanf(line, "full avg10=%lf avg60=%lf avg300=%lf total=%llu", &avg10, &avg60, &avg300, &total) == 4) {
      out->full_avg10 = avg10 / 100;
      out->full_total_us = total;
    }
    line = strchr(line, '\n');
    if (line) ++line;
  }
  return some;
}

uint64_t resident_bytes() {
  char buf[128];
  if (read_small_file("/proc/self/statm", buf, sizeof buf) <= 0) return 0;
  unsigned long size = 0, resident = 0;
  if (sscanf(buf, "%lu %lu", &size, &resident) != 2) return 0;
  return uint64_t(resident) * uint64_t(sysconf(_SC_PAGESIZE));
}

}  // namespace memf
