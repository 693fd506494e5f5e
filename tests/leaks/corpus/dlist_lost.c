// A doubly linked list of 50 nodes whose only root goes out of scope.
#include <stdlib.h>
struct node { struct node *prev, *next; char payload[40]; };
static void build(void) {
  struct node *first = NULL, *last = NULL;
  for (int i = 0; i < 50; ++i) {
    struct node *n = calloc(1, sizeof *n);
    n->prev = last;
    if (last) last->next = n; else first = n;
    last = n;
  }
  (void)first;
}
int main(void) {
  build();
  return 0;
}
