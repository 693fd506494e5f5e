// open_memstream's buffer kept after fclose, then dropped.
#define _GNU_SOURCE
#include <stdio.h>
static size_t render(void) {
  char *buffer = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&buffer, &size);
  for (int i = 0; i < 20; ++i) fprintf(out, "row %d\n", i);
  fclose(out);
  return size;
}
int main(void) { return render() == 0; }
