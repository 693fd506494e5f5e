// A block grown twice with realloc (from the pools to the large path) and then lost:
// definitely lost, 20000 bytes in 1 object, allocated (last reallocated) in leak_realloc.
#include <stdlib.h>
#include <string.h>

#include "leaks_common.h"

__attribute__((noinline)) void leak_realloc(void) {
  char* p = malloc(10);
  memset(p, 'a', 10);
  p = realloc(p, 5000);
  memset(p, 'b', 5000);
  p = realloc(p, 20000);
  memset(p, 'c', 20000);
  escape(p);
}

int main(void) {
  leak_realloc();
  clobber_stack();
  return 0;
}
