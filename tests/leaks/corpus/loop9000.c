// Ten 9000-byte blocks leaked in one loop, never written.
#include <stdlib.h>
#include "corpus.h"
int main(void) {
  for (int i = 0; i < 10; ++i) USE(malloc(9000));
  return 0;
}
