// Three 1000-byte blocks leaked in one loop, never written.
#include <stdlib.h>
#include "corpus.h"
int main(void) {
  for (int i = 0; i < 3; ++i) USE(malloc(1000));
  return 0;
}
