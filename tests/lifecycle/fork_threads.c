/* (a) fork in a multithreaded process while three threads allocate and free in a loop. Each
 * child checks and frees every block the threads held (they do not exist in the child), churns
 * on its own and in a thread of its own, and exits 0 through exit() (memf's exit path in a
 * forked child); the parent checks each child's status and carries on. The threads hold their
 * own mutex around each step, which a pthread_atfork handler takes, so that at the fork every
 * live block is recorded in `slots` (none in flight in a register).
 * Two more threads allocate and free with no lock, so that a fork finds them inside malloc and
 * free. A child leaves their blocks alone; the block one of them had just got from malloc but
 * not yet stored is lost to the child, so each child may leak up to one block per such thread. */
#include "lifecycle.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

enum { kWorkers = 3, kSlots = 256, kForks = 6, kLoose = 2, kLooseSlots = 64 };

struct slot {
  void *p;
  size_t size;
  uint64_t seed;
};

static struct slot slots[kWorkers][kSlots];
static pthread_mutex_t locks[kWorkers];
static atomic_int stop;
static atomic_long steps[kWorkers];

static void *worker(void *arg) {
  int w = (int)(intptr_t)arg;
  uint64_t state = 0x1234567ull * (uint64_t)(w + 1);
  while (!atomic_load(&stop)) {
    pthread_mutex_lock(&locks[w]);
    struct slot *s = &slots[w][next_random(&state) % kSlots];
    if (s->p) {
      CHECK(intact(s->p, s->size, s->seed), "worker %d: block corrupted", w);
      free(s->p);
      s->p = NULL;
    } else {
      s->size = random_size(&state);
      s->seed = next_random(&state);
      s->p = malloc(s->size);
      CHECK(s->p != NULL, "worker %d: malloc(%zu) failed", w, s->size);
      fill(s->p, s->size, s->seed);
    }
    pthread_mutex_unlock(&locks[w]);
    atomic_fetch_add(&steps[w], 1);
  }
  return NULL;
}

/* The unlocked threads' blocks: stored as malloc returns, freed before the slot is cleared, so
 * that a child never sees a slot pointing to a block it could think leaked. */
static void *volatile loose[kLoose][kLooseSlots];

static void *loose_worker(void *arg) {
  int w = (int)(intptr_t)arg;
  uint64_t state = 0xABCDEFull * (uint64_t)(w + 1);
  while (!atomic_load(&stop)) {
    volatile void **slot = (volatile void **)&loose[w][next_random(&state) % kLooseSlots];
    size_t size = 16 + next_random(&state) % 2000;
    if (*slot) {
      CHECK(intact((void *)*slot, 16, (uint64_t)w), "loose worker %d: block corrupted", w);
      free((void *)*slot);
      *slot = NULL;
    } else {
      *slot = malloc(size);
      CHECK(*slot != NULL, "loose worker %d: malloc(%zu) failed", w, size);
      fill((void *)*slot, 16, (uint64_t)w);
    }
  }
  return NULL;
}

static void take_locks(void) {
  for (int w = 0; w < kWorkers; w++) pthread_mutex_lock(&locks[w]);
}

static void release_locks(void) {
  for (int w = kWorkers - 1; w >= 0; w--) pthread_mutex_unlock(&locks[w]);
}

/* Checks and frees every block in slots; returns how many there were. */
static int free_slots(void) {
  int n = 0;
  for (int w = 0; w < kWorkers; w++)
    for (int i = 0; i < kSlots; i++) {
      struct slot *s = &slots[w][i];
      if (!s->p) continue;
      CHECK(intact(s->p, s->size, s->seed), "block of worker %d slot %d corrupted", w, i);
      free(s->p);
      s->p = NULL;
      n++;
    }
  return n;
}

static void *child_thread(void *arg) {
  churn((uint64_t)(intptr_t)arg, 20000);
  return NULL;
}

static void child(int round) {
  alarm(30); /* a lock left held across the fork shows up as SIGALRM, not a hang */
  int held = free_slots();
  CHECK(held > 0, "child %d: the workers held no block at the fork", round);
  churn(1000 + (uint64_t)round, 60000);
  printf("may-leak: %d %d\n", (int)getpid(), kLoose); /* see the top of the file */
  fflush(stdout);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, child_thread, (void *)(intptr_t)(2000 + round)) == 0, "child: pthread_create failed");
  CHECK(pthread_join(t, NULL) == 0, "child: pthread_join failed");
  exit(0);
}

/* argv[1]: the exit status of a child whose leak check found its lost block (MEMF_LEAK_EXITCODE). */
int main(int argc, char **argv) {
  require_memf();
  int leak_status = argc > 1 ? atoi(argv[1]) : 0;
  for (int w = 0; w < kWorkers; w++) pthread_mutex_init(&locks[w], NULL);
  CHECK(pthread_atfork(take_locks, release_locks, release_locks) == 0, "pthread_atfork failed");
  pthread_t threads[kWorkers];
  for (int w = 0; w < kWorkers; w++)
    CHECK(pthread_create(&threads[w], NULL, worker, (void *)(intptr_t)w) == 0, "pthread_create failed");
  pthread_t loose_threads[kLoose];
  for (int w = 0; w < kLoose; w++)
    CHECK(pthread_create(&loose_threads[w], NULL, loose_worker, (void *)(intptr_t)w) == 0, "pthread_create failed");

  for (int round = 0; round < kForks; round++) {
    long before = atomic_load(&steps[0]);
    while (atomic_load(&steps[0]) < before + 2000) usleep(1000); /* the workers are busy */
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork failed");
    if (pid == 0) child(round);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid failed");
    CHECK(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == leak_status),
          "child %d ended with status %#x", round, status);
  }

  atomic_store(&stop, 1);
  for (int w = 0; w < kWorkers; w++) CHECK(pthread_join(threads[w], NULL) == 0, "pthread_join failed");
  for (int w = 0; w < kLoose; w++) CHECK(pthread_join(loose_threads[w], NULL) == 0, "pthread_join failed");
  free_slots();
  for (int w = 0; w < kLoose; w++)
    for (int i = 0; i < kLooseSlots; i++) free((void *)loose[w][i]);
  printf("fork_threads: %d forks, workers made %ld %ld %ld steps\n", kForks, atomic_load(&steps[0]),
         atomic_load(&steps[1]), atomic_load(&steps[2]));
  return 0;
}
