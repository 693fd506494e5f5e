// A buffer grown by realloc ten times, then dropped.
#include <stdlib.h>
#include <string.h>
static void grow(void) {
  size_t size = 16;
  char *buffer = malloc(size);
  for (int i = 0; i < 10; ++i) {
    size *= 2;
    buffer = realloc(buffer, size);
    memset(buffer, i, size);
  }
}
int main(void) {
  grow();
  return 0;
}
