// A tree kept by a global; one subtree is detached and dropped.
#include <stdlib.h>
struct tree { struct tree *left, *right; int key; };
struct tree *g_root;
static struct tree *grow(int depth, int key) {
  if (depth == 0) return NULL;
  struct tree *t = malloc(sizeof *t);
  t->key = key;
  t->left = grow(depth - 1, 2 * key);
  t->right = grow(depth - 1, 2 * key + 1);
  return t;
}
int main(void) {
  g_root = grow(5, 1);
  g_root->left = NULL;  /* 15 nodes lost */
  return 0;
}
