// calloc'd arrays leaked: small and large.
#include <stdlib.h>
#include "corpus.h"
int main(void) {
  for (int i = 0; i < 5; ++i) USE(calloc(10, 24));
  USE(calloc(1000, 40));
  return 0;
}
