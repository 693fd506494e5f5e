// getline's line buffer never freed (the stream itself is closed).
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
static size_t longest(void) {
  static const char data[] = "first line\nsecond, longer line\nthird\n";
  FILE *in = fmemopen((void *)data, strlen(data), "r");
  char *line = NULL;
  size_t cap = 0, best = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, in)) > 0)
    if ((size_t)n > best) best = (size_t)n;
  fclose(in);
  return best;
}
int main(void) { return longest() == 0; }
