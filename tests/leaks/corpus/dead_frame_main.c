// The only pointer to a block is a local of main when main returns (built at -O0 and at -O1:
// dead_frame_main_O1).
#include <stdlib.h>
#include <string.h>
void *f(int n) {
  void *p = malloc(n);
  memset(p, 0, n);
  return p;
}
int main(void) {
  void *lost = f(123);
  (void)lost;
  return 0;
}
