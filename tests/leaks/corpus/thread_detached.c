// A detached thread leaks a block and finishes before main exits.
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static sem_t done;
static void *work(void *arg) {
  char *p = malloc(123);
  memset(p, 2, 123);
  sem_post(&done);
  return arg;
}
int main(void) {
  pthread_t t;
  sem_init(&done, 0, 0);
  pthread_create(&t, NULL, work, NULL);
  pthread_detach(t);
  sem_wait(&done);
  usleep(20000);  /* let it run to its end */
  return 0;
}
