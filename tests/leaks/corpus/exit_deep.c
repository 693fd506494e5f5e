// exit() from a nested function whose local still points to a block (still reachable).
#include <stdlib.h>
#include <string.h>
static void finish(void) {
  char *state = malloc(64);
  memset(state, 1, 64);
  exit(0);
}
static void run(void) { finish(); }
int main(void) {
  run();
  return 1;
}
