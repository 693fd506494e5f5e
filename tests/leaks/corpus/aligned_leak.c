// Aligned allocations leaked: aligned_alloc, posix_memalign, memalign.
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
  void *a = aligned_alloc(64, 256);
  void *b = NULL;
  if (posix_memalign(&b, 4096, 100) != 0) return 1;
  void *c = memalign(128, 1000);
  memset(a, 1, 256);
  memset(b, 2, 100);
  memset(c, 3, 1000);
  return 0;
}
