// One block leaked by a helper function whose caller drops the result.
#include <stdlib.h>
#include <string.h>
static char *make_message(const char *text) {
  char *m = malloc(strlen(text) + 1);
  strcpy(m, text);
  return m;
}
int main(void) {
  make_message("hello, leak");
  return 0;
}
