// A lost owner block pointing into a two-block cycle.
#include <stdlib.h>
struct ring { struct ring *next; long id; };
struct owner { struct ring *ring; char name[24]; };
static void make(void) {
  struct owner *o = malloc(sizeof *o);
  struct ring *a = malloc(sizeof *a), *b = malloc(sizeof *b);
  a->next = b; b->next = a;
  o->ring = a;
}
int main(void) {
  make();
  return 0;
}
