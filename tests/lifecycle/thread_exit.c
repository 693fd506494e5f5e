/* (e) Threads that exit holding blocks (handed on through `generation`), freed later by threads
 * of the next round and by main; threads that free blocks others allocated; a thread-specific
 * value whose destructor, run as its thread exits, frees one block and allocates another for
 * main to free; detached threads that end by pthread_exit. */
#include "lifecycle.h"

#include <pthread.h>
#include <semaphore.h>

enum { kThreads = 6, kRounds = 12, kPerThread = 400 };

struct handoff {
  void *p[kPerThread];
  size_t size[kPerThread];
  uint64_t seed[kPerThread];
};

/* Round r's thread t fills generation[r % 2][t] and exits; round r + 1's thread (t + 1) %
 * kThreads checks and frees them, so every block dies in another thread than its own. */
static struct handoff generation[2][kThreads];
static void *from_destructor[kRounds][kThreads];
static pthread_key_t key;
static sem_t detached_done;

static void take(struct handoff *h, const char *who) {
  for (int i = 0; i < kPerThread; i++) {
    if (!h->p[i]) continue;
    CHECK(intact(h->p[i], h->size[i], h->seed[i]), "%s: block %d corrupted", who, i);
    free(h->p[i]);
    h->p[i] = NULL;
  }
}

static void give(struct handoff *h, uint64_t seed) {
  uint64_t state = seed | 1;
  for (int i = 0; i < kPerThread; i++) {
    h->size[i] = random_size(&state);
    h->seed[i] = next_random(&state);
    h->p[i] = malloc(h->size[i]);
    CHECK(h->p[i] != NULL, "malloc failed");
    fill(h->p[i], h->size[i], h->seed[i]);
  }
}

struct job {
  int round, thread;
};

static void destroy_value(void *value) {
  struct job *job = (struct job *)value;
  /* At thread exit: free the job block the thread kept, and allocate one for main. */
  void *p = malloc(1000);
  CHECK(p != NULL, "malloc in a key destructor failed");
  fill(p, 1000, (uint64_t)(job->round * 100 + job->thread));
  from_destructor[job->round][job->thread] = p;
  free(job);
}

static void finish(void) {
  pthread_exit(NULL); /* from a nested call: blocks held in this frame live on in `generation` */
}

static void *round_thread(void *arg) {
  struct job *job = (struct job *)arg;
  int r = job->round, t = job->thread;
  CHECK(pthread_setspecific(key, job) == 0, "pthread_setspecific failed");
  if (r > 0) take(&generation[(r - 1) % 2][(t + kThreads - 1) % kThreads], "next round");
  churn((uint64_t)(r * kThreads + t), 2000);
  give(&generation[r % 2][t], (uint64_t)(r * 1000 + t));
  if (t % 2) finish();
  return NULL;
}

static void *detached_thread(void *arg) {
  void *p = arg; /* main's block, freed here */
  CHECK(intact(p, 3000, 31337), "detached: main's block corrupted");
  free(p);
  void *mine = malloc(100);
  free(mine);
  sem_post(&detached_done);
  pthread_exit(NULL);
}

int main(void) {
  require_memf();
  CHECK(pthread_key_create(&key, destroy_value) == 0, "pthread_key_create failed");
  CHECK(sem_init(&detached_done, 0, 0) == 0, "sem_init failed");
  for (int r = 0; r < kRounds; r++) {
    pthread_t threads[kThreads];
    for (int t = 0; t < kThreads; t++) {
      struct job *job = malloc(sizeof *job); /* freed by the key destructor */
      CHECK(job != NULL, "malloc failed");
      job->round = r;
      job->thread = t;
      CHECK(pthread_create(&threads[t], NULL, round_thread, job) == 0, "pthread_create failed");
    }
    for (int t = 0; t < kThreads; t++) CHECK(pthread_join(threads[t], NULL) == 0, "pthread_join failed");
    for (int t = 0; t < kThreads; t++) {
      void *p = from_destructor[r][t];
      CHECK(p && intact(p, 1000, (uint64_t)(r * 100 + t)), "round %d thread %d: destructor's block wrong", r, t);
      free(p);
    }
    void *gift = malloc(3000);
    CHECK(gift != NULL, "malloc failed");
    fill(gift, 3000, 31337);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t detached;
    CHECK(pthread_create(&detached, &attr, detached_thread, gift) == 0, "pthread_create failed");
    pthread_attr_destroy(&attr);
  }
  for (int r = 0; r < kRounds; r++) sem_wait(&detached_done);
  /* The last round's blocks: their threads are gone, main frees them. */
  for (int t = 0; t < kThreads; t++) take(&generation[(kRounds - 1) % 2][t], "main");
  printf("thread_exit: %d rounds of %d threads, %d blocks handed on by each\n", kRounds, kThreads, kPerThread);
  return 0;
}
