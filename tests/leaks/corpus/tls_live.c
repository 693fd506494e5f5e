// Blocks held through __thread variables: the main thread's and a live thread's.
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <unistd.h>
static __thread char *t_buffer;
static sem_t ready;
static void *hold(void *arg) {
  t_buffer = malloc(300);
  sem_post(&ready);
  for (;;) pause();
  return arg;
}
int main(void) {
  pthread_t t;
  sem_init(&ready, 0, 0);
  t_buffer = malloc(100);
  pthread_create(&t, NULL, hold, NULL);
  sem_wait(&ready);
  return 0;
}
