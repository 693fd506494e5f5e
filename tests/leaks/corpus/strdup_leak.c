// strdup and strndup results dropped.
#define _GNU_SOURCE
#include <string.h>
#include "corpus.h"
int main(void) {
  for (int i = 0; i < 4; ++i) USE(strdup("a string that is copied and forgotten"));
  USE(strndup("abcdefghijklmnopqrstuvwxyz", 10));
  return 0;
}
