// Two blocks pointing at each other and at nothing else, lost together (48 bytes each, allocated
// in lose_cycle). memf (like Valgrind) reports the lower-addressed one as definitely lost and the
// other as indirectly lost; LeakSanitizer reports both as indirect and nothing as direct.
#include <stdlib.h>

#include "leaks_common.h"

struct node {
  struct node* next;
  char payload[40];
};

__attribute__((noinline)) void lose_cycle(void) {
  struct node* a = calloc(1, sizeof *a);
  struct node* b = calloc(1, sizeof *b);
  a->next = b;
  b->next = a;
  escape(a);
}

int main(void) {
  lose_cycle();
  clobber_stack();
  return 0;
}
