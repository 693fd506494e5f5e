// malloc'd blocks lost: definitely lost, 123 bytes each, all allocated in leak_plain. One block,
// or as many as the first argument says (memf-report diff compares two such runs).
#include <stdlib.h>
#include <string.h>

#include "leaks_common.h"

__attribute__((noinline)) void leak_plain(void) {
  char* p = malloc(123);
  memset(p, 'x', 123);
  escape(p);
}

int main(int argc, char** argv) {
  const int count = argc > 1 ? atoi(argv[1]) : 1;
  for (int i = 0; i < count; ++i) leak_plain();
  clobber_stack();
  return 0;
}
