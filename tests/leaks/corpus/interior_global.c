// A global points into the middle of a block (a cursor): not a leak.
#include <stdlib.h>
#include <string.h>
char *g_cursor;
int main(void) {
  char *buffer = malloc(400);
  memset(buffer, 'z', 400);
  g_cursor = buffer + 100;
  return 0;
}
