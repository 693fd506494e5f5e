// A lost struct that owns another block: the struct (16 bytes, lose_owner) is definitely lost,
// the buffer it points to (200 bytes, make_buffer) indirectly lost. Its output sits in a stdio
// buffer (a static one: no allocation) until exit, so it shows whether a leak exit code still
// lets stdio flush.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leaks_common.h"

struct owner {
  char* buffer;
  size_t size;
};

__attribute__((noinline)) char* make_buffer(size_t size) {
  char* b = malloc(size);
  memset(b, 'b', size);
  return b;
}

__attribute__((noinline)) void lose_owner(void) {
  struct owner* o = malloc(sizeof *o);
  o->size = 200;
  o->buffer = make_buffer(o->size);
  escape(o);
}

static char g_output[256];

int main(void) {
  setvbuf(stdout, g_output, _IOFBF, sizeof g_output);
  fputs("owner: lost its struct\n", stdout);
  lose_owner();
  clobber_stack();
  return 0;
}
