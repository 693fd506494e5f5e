// Two 5 MiB buffers leaked, partly written.
#include <stdlib.h>
#include <string.h>
int main(void) {
  for (int i = 0; i < 2; ++i) {
    char *p = malloc(5 << 20);
    memset(p, 'x', 4096);
  }
  return 0;
}
