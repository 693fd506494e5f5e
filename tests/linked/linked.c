/* Linked with -lmemf (no LD_PRELOAD): malloc, free and operator new must bind to libmemf, work
 * from the first call, across threads and with memf's C interface. Exits non-zero on failure. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <memf/memf.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "linked: %s: ", #cond);              \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
      failures++;                                          \
    }                                                      \
  } while (0)

static const char* module_of(void* symbol) {
  Dl_info info;
  if (!dladdr(symbol, &info) || !info.dli_fname) return "?";
  return info.dli_fname;
}

static void* churn(void* arg) {
  uintptr_t seed = (uintptr_t)arg;
  void* blocks[256] = {0};
  for (int i = 0; i < 200000; i++) {
    unsigned k = (unsigned)(seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 24 & 255;
    if (blocks[k]) {
      if (*(uintptr_t*)blocks[k] != (uintptr_t)blocks[k]) return (void*)1;
      free(blocks[k]);
    }
    size_t size = 8 + (seed >> 40) % 3000;
    blocks[k] = malloc(size);
    *(uintptr_t*)blocks[k] = (uintptr_t)blocks[k];
  }
  for (int k = 0; k < 256; k++) free(blocks[k]);
  return NULL;
}

int main(void) {
  void* malloc_address = dlsym(RTLD_DEFAULT, "malloc");
  void* free_address = dlsym(RTLD_DEFAULT, "free");
  CHECK(strstr(module_of(malloc_address), "libmemf") != NULL, "malloc is bound to %s", module_of(malloc_address));
  CHECK(strstr(module_of(free_address), "libmemf") != NULL, "free is bound to %s", module_of(free_address));
  CHECK(strstr(module_of((void*)memf_release_memory), "libmemf") != NULL, "memf_release_memory from %s",
        module_of((void*)memf_release_memory));

  pthread_t threads[4];
  for (uintptr_t t = 0; t < 4; t++) pthread_create(&threads[t], NULL, churn, (void*)(t + 1));
  for (int t = 0; t < 4; t++) {
    void* result = (void*)1;
    pthread_join(threads[t], &result);
    CHECK(result == NULL, "thread %d saw a block change under it", t);
  }
  char* text = strdup("memf linked");
  CHECK(text && strcmp(text, "memf linked") == 0, "strdup");
  free(text);
  /* Blocks freed by the exited threads sit in transfer batches and slabs: release gives pages back. */
  size_t released = memf_release_memory();
  CHECK(released > 0, "memf_release_memory released %zu bytes", released);
  if (failures == 0) puts("linked: ok");
  return failures ? 1 : 0;
}
