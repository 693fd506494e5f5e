// A lost connection struct owning three buffers.
#include <stdlib.h>
#include <string.h>
struct connection { char *in, *out, *name; int fd; };
static struct connection *open_connection(const char *name) {
  struct connection *c = malloc(sizeof *c);
  c->in = malloc(512);
  c->out = malloc(1024);
  c->name = malloc(strlen(name) + 1);
  strcpy(c->name, name);
  c->fd = 3;
  return c;
}
int main(void) {
  struct connection *c = open_connection("peer-1");
  c->fd = 4;
  return 0;
}
