// An atexit handler frees one global block; another block, pointed to by nothing, is lost.
#include <stdlib.h>
#include <string.h>
static char *g_session;
static void cleanup(void) {
  free(g_session);
  g_session = NULL;
}
int main(void) {
  g_session = malloc(500);
  memset(g_session, 's', 500);
  atexit(cleanup);
  char *orphan = malloc(90);
  memset(orphan, 'o', 90);
  orphan = NULL;
  return 0;
}
