// 300 blocks of 16 bytes allocated in a loop, never written, never freed.
#include <stdlib.h>
#include "corpus.h"
int main(void) {
  for (int i = 0; i < 300; ++i) USE(malloc(16));
  return 0;
}
