// A plugin loaded with dlopen by dlopen_kept.c and dlopen_closed.c: it leaks what it makes.
#include <stdlib.h>
#include <string.h>
char *plugin_make(int n) {
  char *p = malloc((size_t)n);
  memset(p, 'p', (size_t)n);
  return p;
}
void plugin_leak(void) {
  for (int i = 0; i < 3; ++i) plugin_make(60);
}
