// A longer main: several helpers run, and the last allocation is dropped at the end.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int sum(const int *v, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += v[i];
  return s;
}
static char *label(int n) {
  char *s = malloc(32);
  snprintf(s, 32, "total=%d", n);
  return s;
}
int main(void) {
  int *values = malloc(50 * sizeof *values);
  for (int i = 0; i < 50; ++i) values[i] = i * i;
  int total = sum(values, 50);
  free(values);
  char *text = label(total);
  if (strlen(text) == 0) return 1;
  char *copy = malloc(strlen(text) + 1);
  strcpy(copy, text);
  free(text);
  return 0;
}
