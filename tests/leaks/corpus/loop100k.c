// Five 100000-byte blocks leaked, the first bytes written.
#include <stdlib.h>
#include <string.h>
int main(void) {
  for (int i = 0; i < 5; ++i) {
    char *p = malloc(100000);
    strcpy(p, "header");
  }
  return 0;
}
