// A lost block holds an interior pointer into another block.
#include <stdlib.h>
#include <string.h>
struct view { char *cursor; long length; };
static void make(void) {
  char *text = malloc(256);
  memset(text, 't', 256);
  struct view *v = malloc(sizeof *v);
  v->cursor = text + 10;
  v->length = 20;
}
int main(void) {
  make();
  return 0;
}
