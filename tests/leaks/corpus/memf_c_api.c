// Uses memf's C API (linked with memf): statistics and category scopes; leaks two blocks.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <memf/memf.h>
int main(void) {
  memf_stats stats;
  memf_get_stats(&stats);
  memf_category_push("parser");
  char *tokens = malloc(250);
  memset(tokens, 't', 250);
  memf_category_pop();
  char *plain = malloc(33);
  memset(plain, 'p', 33);
  memf_get_stats(&stats);
  printf("%d\n", stats.allocations > 0);
  return 0;
}
