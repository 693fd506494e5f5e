// A complete binary tree of depth 6 (63 nodes), lost at its root.
#include <stdlib.h>
struct tree { struct tree *left, *right; int key; };
static struct tree *grow(int depth, int key) {
  if (depth == 0) return NULL;
  struct tree *t = malloc(sizeof *t);
  t->key = key;
  t->left = grow(depth - 1, 2 * key);
  t->right = grow(depth - 1, 2 * key + 1);
  return t;
}
int main(void) {
  struct tree *root = grow(6, 1);
  root = NULL;
  return root != NULL;
}
