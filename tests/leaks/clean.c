// Frees everything it allocates, in this thread and another: no leak of any kind from the
// program itself.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "leaks_common.h"

__attribute__((noinline)) void* churn(void* arg) {
  void* blocks[64];
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 64; ++i) blocks[i] = malloc((size_t)(i * 37 % 9000 + 1));
    for (int i = 0; i < 64; ++i) free(blocks[i]);
  }
  char* big = malloc(3 << 20);
  memset(big, 1, 3 << 20);
  free(big);
  return arg;
}

int main(void) {
  pthread_t t;
  churn(NULL);
  if (pthread_create(&t, NULL, churn, NULL) != 0) return 2;
  pthread_join(t, NULL);
  clobber_stack();
  return 0;
}
