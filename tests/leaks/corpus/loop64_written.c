// 300 blocks of 64 bytes, each filled with memset, never freed.
#include <stdlib.h>
#include <string.h>
int main(void) {
  for (int i = 0; i < 300; ++i) {
    char *p = malloc(64);
    memset(p, i, 64);
  }
  return 0;
}
