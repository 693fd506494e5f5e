/* The leak verdict across fork: a parent whose two threads allocate and free while it forks
 * leaks nothing; each of its children leaks one block of its own (a pool, large or huge one,
 * with a pool block only it points to) and exits through exit(). run.sh checks that memf
 * reports exactly those leaks, each in the child that made it, and none in the parent. The
 * children's leak status (MEMF_LEAK_EXITCODE, set by run.sh) is the status the parent sees. */
#include "lifecycle.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

enum { kChildren = 4, kInner = 48 };

static atomic_int stop;
static void *kept[64]; /* reachable at exit in every process: a global holds them */
static volatile uintptr_t hidden[kChildren]; /* a leaked block's address, disguised */

/* The workers' blocks live only in `inflight`, stored under the worker's lock, which the fork
 * handler takes: a child inherits each as reachable, none half-stored in a register. */
static void *inflight[2][16];
static pthread_mutex_t locks[2] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER};

static void take_locks(void) {
  for (int w = 0; w < 2; w++) pthread_mutex_lock(&locks[w]);
}

static void release_locks(void) {
  for (int w = 1; w >= 0; w--) pthread_mutex_unlock(&locks[w]);
}

static void *worker(void *arg) {
  int w = (int)(intptr_t)arg;
  uint64_t state = 77 + (uint64_t)w;
  while (!atomic_load(&stop)) {
    pthread_mutex_lock(&locks[w]);
    void **slot = &inflight[w][next_random(&state) % 16];
    if (*slot) {
      free(*slot);
      *slot = NULL;
    } else {
      *slot = malloc(random_size(&state));
      CHECK(*slot != NULL, "malloc failed");
    }
    pthread_mutex_unlock(&locks[w]);
  }
  return NULL;
}

/* The leaked block's size for child i: a pool block, a large block, a huge mapping. */
static size_t leak_size(int i) {
  static const size_t sizes[kChildren] = {3000, 100000, (2u << 20) + 4096, 777};
  return sizes[i];
}

/* Not inlined, so that the block's address dies with this frame (stored only disguised). */
__attribute__((noinline)) static void leak(int i) {
  char **outer = malloc(leak_size(i));
  CHECK(outer != NULL, "malloc(%zu) failed", leak_size(i));
  memset(outer, 0, leak_size(i));
  outer[1] = malloc(kInner); /* reached only through outer: an indirect leak */
  CHECK(outer[1] != NULL, "malloc failed");
  fill(outer[1], kInner, (uint64_t)i);
  hidden[i] = (uintptr_t)outer ^ 0x5a5a5a5a5a5a5a5aull;
}

int main(int argc, char **argv) {
  require_memf();
  int leak_status = argc > 1 ? atoi(argv[1]) : 0;
  for (int i = 0; i < 64; i++) {
    kept[i] = malloc(16 + (size_t)i * 100);
    CHECK(kept[i] != NULL, "malloc failed");
  }
  CHECK(pthread_atfork(take_locks, release_locks, release_locks) == 0, "pthread_atfork failed");
  pthread_t threads[2];
  for (int t = 0; t < 2; t++)
    CHECK(pthread_create(&threads[t], NULL, worker, (void *)(intptr_t)t) == 0, "pthread_create failed");
  for (int i = 0; i < kChildren; i++) {
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
      leak(i);
      churn(500 + (uint64_t)i, 2000); /* overwrites the stack leak() used */
      printf("expect-leak: %d definite %zu in 1, indirect %d in 1\n", (int)getpid(), leak_size(i), (int)kInner);
      fflush(stdout);
      exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid failed");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == leak_status, "child %d ended with status %#x, not exit %d",
          i, status, leak_status);
  }
  atomic_store(&stop, 1);
  for (int t = 0; t < 2; t++) CHECK(pthread_join(threads[t], NULL) == 0, "pthread_join failed");
  for (int i = 0; i < 64; i++) free(kept[i]);
  for (int w = 0; w < 2; w++)
    for (int k = 0; k < 16; k++) free(inflight[w][k]);
  printf("fork_leak: %d children, each leaked its block; the parent freed everything\n", kChildren);
  return 0;
}
