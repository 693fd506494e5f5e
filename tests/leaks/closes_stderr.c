// Closes stderr in an exit handler, as coreutils' close_stdout does: the leak report (31 bytes
// definitely lost in leak_then_close) still reaches the stderr the program started with.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leaks_common.h"

static void close_streams(void) {
  fclose(stdout);
  fclose(stderr);
}

__attribute__((noinline)) void leak_then_close(void) {
  char* p = malloc(31);
  memset(p, 's', 31);
  escape(p);
}

int main(void) {
  atexit(close_streams);
  leak_then_close();
  clobber_stack();
  return 0;
}
