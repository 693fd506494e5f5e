// A function-local static caches a block: reachable, not a leak. A second call's block is lost.
#include <stdlib.h>
#include <string.h>
static const char *cached(void) {
  static char *cache;
  if (!cache) {
    cache = malloc(128);
    strcpy(cache, "computed once");
  }
  return cache;
}
static void waste(void) {
  char *tmp = malloc(56);
  strcpy(tmp, cached());
}
int main(void) {
  waste();
  return 0;
}
