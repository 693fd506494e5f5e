// A thread still running at exit holds a block in a local variable; another block is lost.
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static sem_t ready;
static void *hold(void *arg) {
  char *volatile mine = malloc(200);
  memset(mine, 3, 200);
  sem_post(&ready);
  for (;;) pause();
  return arg;
}
int main(void) {
  pthread_t t;
  sem_init(&ready, 0, 0);
  pthread_create(&t, NULL, hold, NULL);
  sem_wait(&ready);
  char *lost = malloc(31);
  memset(lost, 4, 31);
  lost = NULL;
  return 0;
}
