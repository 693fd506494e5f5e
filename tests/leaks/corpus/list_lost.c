// A singly linked list of 100 nodes, summed, then lost at its head (built at -O1).
#include <stdio.h>
#include <stdlib.h>
struct node { struct node *next; int value; };
int main(void) {
  struct node *head = NULL;
  for (int i = 0; i < 100; ++i) {
    struct node *n = malloc(sizeof *n);
    n->value = i;
    n->next = head;
    head = n;
  }
  long sum = 0;
  for (struct node *n = head; n; n = n->next) sum += n->value;
  printf("%ld\n", sum);
  head = NULL;
  return 0;
}
