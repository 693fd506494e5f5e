// A running thread keeps its only pointer to a block in a register (built at -O2) while main
// exits; another block is lost.
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
static sem_t ready;
static volatile int g_stop;
static void *spin(void *arg) {
  (void)arg;
  long *p = malloc(48);
  memset(p, 0, 48);
  sem_post(&ready);
  while (!g_stop) __asm__ volatile("" : "+r"(p));
  return p;
}
int main(void) {
  pthread_t t;
  sem_init(&ready, 0, 0);
  pthread_create(&t, NULL, spin, NULL);
  sem_wait(&ready);
  char *lost = malloc(29);
  memset(lost, 5, 29);
  return lost[0] == 6;
}
