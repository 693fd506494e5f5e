// asprintf's buffer dropped.
#define _GNU_SOURCE
#include <stdio.h>
int main(void) {
  char *text = NULL;
  if (asprintf(&text, "%s-%d-%s", "value", 42, "suffix") < 0) return 1;
  text = NULL;
  return 0;
}
