// A block whose only reference is a global pointing 40 bytes into it: possibly lost (400 bytes
// in 1 object, keep_interior). LeakSanitizer counts any pointer into a block as a reference and
// reports nothing here.
#include <stdlib.h>
#include <string.h>

#include "leaks_common.h"

char* g_middle;

__attribute__((noinline)) void keep_interior(void) {
  char* p = malloc(400);
  memset(p, 'i', 400);
  g_middle = p + 40;
}

int main(void) {
  keep_interior();
  clobber_stack();
  return 0;
}
