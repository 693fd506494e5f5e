// A block lost by a thread that has been joined: definitely lost, 77 bytes in 1 object,
// allocated in leak_in_thread. Another thread's block is freed.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "leaks_common.h"

__attribute__((noinline)) void* leak_in_thread(void* arg) {
  char* p = malloc(77);
  memset(p, 't', 77);
  escape(p);
  clobber_stack();
  return arg;
}

__attribute__((noinline)) void* free_in_thread(void* arg) {
  void* p = malloc(500);
  escape(p);
  free(p);
  return arg;
}

int main(void) {
  pthread_t leaker, tidy;
  if (pthread_create(&leaker, NULL, leak_in_thread, NULL) != 0) return 2;
  if (pthread_create(&tidy, NULL, free_in_thread, NULL) != 0) return 2;
  pthread_join(leaker, NULL);
  pthread_join(tidy, NULL);
  clobber_stack();
  return 0;
}
