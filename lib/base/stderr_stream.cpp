#include "stderr_stream.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "fork.hpp"

namespace memf {

namespace {

// The identity of a file: what a reused descriptor number cannot fake.
struct FileIdentity {
  dev_t device;
  ino_t inode;
};

constinit bool g_recorded = false;
constinit bool g_had_stderr = false;
constinit FileIdentity g_identity = {};
constinit int g_copy = -1;
constexpr int kCopyFloor = 1000;  // out of the way of programs that expect low numbers

bool identity_of(int fd, FileIdentity* out) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  *out = FileIdentity{st.st_dev, st.st_ino};
  return true;
}

bool is_recorded_file(int fd) {
  FileIdentity now;
  return identity_of(fd, &now) && now.device == g_identity.device && now.inode == g_identity.inode;
}

void no_lock() {}
// A forked child writes to its fd 2 as it is (a server's workers, forked after the server pointed
// stderr at its log, report there), without the copy (a daemon must not keep its caller's pipe).
void drop_copy_in_child() {
  stderr_stream_drop_copy();
  g_recorded = false;
}

}  // namespace

void stderr_stream_record(bool keep_copy) {
  const int saved = errno;
  stderr_stream_drop_copy();
  g_had_stderr = identity_of(2, &g_identity);
  g_recorded = true;
  if (keep_copy && g_had_stderr) {
    g_copy = fcntl(2, F_DUPFD_CLOEXEC, kCopyFloor);
    if (g_copy >= 0) fork_register(kForkDiagnostics, {no_lock, no_lock, drop_copy_in_child});
  }
  errno = saved;
}

int stderr_stream_fd() {
  if (!g_recorded) return 2;
  if (!g_had_stderr) return -1;
  const int saved = errno;
  int fd = -1;
  if (is_recorded_file(2)) fd = 2;
  else if (g_copy >= 0 && is_recorded_file(g_copy)) fd = g_copy;
  errno = saved;
  return fd;
}

void stderr_stream_drop_copy() {
  if (g_copy < 0) return;
  const int saved = errno;
  // Only if the number still holds the copy: the program may have closed it and reused it.
  if (is_recorded_file(g_copy)) close(g_copy);
  g_copy = -1;
  errno = saved;
}

}  // namespace memf
