// Two 5 MiB buffers leaked, partly written; the variable that held them is cleared, so that no
// copy of the last one stays where an exit path's stack may or may not overwrite it.
#include <stdlib.h>
#include <string.h>
int main(void) {
  for (int i = 0; i < 2; ++i) {
    char *p = malloc(5 << 20);
    memset(p, 'x', 4096);
    p = NULL;
  }
  return 0;
}
