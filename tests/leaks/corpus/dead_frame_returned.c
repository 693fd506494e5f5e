// A function keeps the only pointers to blocks in its locals and returns without freeing them.
#include <stdlib.h>
#include <string.h>
static int scratch(void) {
  char *parts[8];
  int n = 0;
  for (int i = 0; i < 8; ++i) {
    parts[i] = malloc(40);
    memset(parts[i], 'a' + i, 40);
    n += parts[i][0];
  }
  return n;
}
static int other_work(void) {
  int x = 0;
  for (int i = 0; i < 100; ++i) x += i;
  return x;
}
int main(void) {
  int a = scratch();
  int b = other_work();
  return (a + b) == 0;
}
