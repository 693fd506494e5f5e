// Three blocks in a ring that nothing else points to.
#include <stdlib.h>
struct ring { struct ring *next; long id; };
int main(void) {
  struct ring *a = malloc(sizeof *a), *b = malloc(sizeof *b), *c = malloc(sizeof *c);
  a->next = b; b->next = c; c->next = a;
  a->id = 1; b->id = 2; c->id = 3;
  a = b = c = NULL;
  return 0;
}
