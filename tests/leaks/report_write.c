// Writes a report while running, through memf_report_write (looked up with dlsym: the program
// is not linked with memf). At that point a block held by main is still reachable (64 bytes,
// main) and one is lost (55 bytes, leak_midway); at exit only the lost one remains.
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "leaks_common.h"

__attribute__((noinline)) void leak_midway(void) {
  char* p = malloc(55);
  memset(p, 'm', 55);
  escape(p);
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  int (*write_report)(const char*) = (int (*)(const char*))dlsym(RTLD_DEFAULT, "memf_report_write");
  if (!write_report) return 3;
  char* kept = malloc(64);
  memset(kept, 'k', 64);
  escape(kept);
  leak_midway();
  clobber_stack();
  if (write_report(argv[1]) != 0) return 4;
  errno = 0;
  if (write_report("/nonexistent/memf-report.json") != -1 || errno != ENOENT) return 5;
  escape(kept);
  free(kept);
  return 0;
}
