// Allocates, grows and frees everything: no leak.
#include <stdlib.h>
#include <string.h>
int main(void) {
  char *blocks[100];
  for (int i = 0; i < 100; ++i) {
    blocks[i] = malloc(16 + i * 8);
    memset(blocks[i], i, 16);
  }
  blocks[0] = realloc(blocks[0], 100000);
  for (int i = 0; i < 100; ++i) free(blocks[i]);
  return 0;
}
