// A block kept by a global pointer: still reachable (300 bytes in 1 object), no leak.
#include <stdlib.h>
#include <string.h>

#include "leaks_common.h"

char* g_kept;

__attribute__((noinline)) void keep_in_global(void) {
  g_kept = malloc(300);
  memset(g_kept, 'g', 300);
}

int main(void) {
  keep_in_global();
  clobber_stack();
  return 0;
}
