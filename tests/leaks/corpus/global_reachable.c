// Blocks kept by globals: one directly, one through a struct in static storage.
#include <stdlib.h>
#include <string.h>
char *g_config;
static struct { char *names[4]; int count; } g_table;
int main(void) {
  g_config = malloc(300);
  memset(g_config, 'c', 300);
  for (int i = 0; i < 4; ++i) g_table.names[i] = malloc(20 + i);
  g_table.count = 4;
  return 0;
}
