// For MEMF_STACKS=sampled: many small blocks and a few large ones lost. Sampling by bytes gives
// the large ones a stack almost surely and the small ones rarely; the totals are exact either way.
#include <stdlib.h>
#include <string.h>

#include "leaks_common.h"

enum { kSmall = 300, kSmallBytes = 64, kBig = 3, kBigBytes = 4 << 20 };

__attribute__((noinline)) void leak_small(void) {
  char* p = malloc(kSmallBytes);
  memset(p, 's', kSmallBytes);
  escape(p);
}

__attribute__((noinline)) void leak_big(void) {
  char* p = malloc(kBigBytes);
  memset(p, 'b', 4096);
  escape(p);
}

int main(void) {
  // Small blocks after the last large one, so that no register or stack slot still holds it.
  for (int i = 0; i < kSmall; ++i) {
    if (i % 100 == 0) leak_big();
    leak_small();
  }
  clobber_stack();
  return 0;
}
