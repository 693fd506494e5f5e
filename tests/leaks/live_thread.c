// Blocks held only by thread-local storage and by a thread that is still running at exit: a
// block in a local of the parked thread (88 bytes, park), one in its __thread variable (99
// bytes, park) and one in the main thread's __thread variable (66 bytes, main). All three are
// still reachable; nothing is lost.
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "leaks_common.h"

static __thread char* t_owned;
static sem_t g_parked;

__attribute__((noinline)) void* park(void* arg) {
  char* local = malloc(88);
  memset(local, 'l', 88);
  t_owned = malloc(99);
  memset(t_owned, 'o', 99);
  sem_post(&g_parked);
  for (;;) {
    escape(local);
    pause_forever: __asm__ volatile("" ::: "memory");
    sem_t never;
    sem_init(&never, 0, 0);
    sem_wait(&never);
    goto pause_forever;
  }
  return arg;
}

int main(void) {
  pthread_t t;
  sem_init(&g_parked, 0, 0);
  t_owned = malloc(66);
  memset(t_owned, 'm', 66);
  if (pthread_create(&t, NULL, park, NULL) != 0) return 2;
  sem_wait(&g_parked);
  clobber_stack();
  return 0;
}
