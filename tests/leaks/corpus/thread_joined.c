// Two threads each leak a block and are joined.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
static void *work(void *arg) {
  char *p = malloc(77);
  memset(p, 1, 77);
  return arg;
}
int main(void) {
  pthread_t t[2];
  for (int i = 0; i < 2; ++i) pthread_create(&t[i], NULL, work, NULL);
  for (int i = 0; i < 2; ++i) pthread_join(t[i], NULL);
  return 0;
}
