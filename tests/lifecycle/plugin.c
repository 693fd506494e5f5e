/* The library dlopen_cycle.c loads and unloads: it hands out blocks the program frees after
 * the library is gone, frees blocks the program allocated, and keeps one block of its own from
 * its constructor to its destructor. */
#include "lifecycle.h"

static char *own;
static const size_t kOwn = 5000;

__attribute__((constructor)) static void plugin_load(void) {
  own = malloc(kOwn);
  if (own) fill(own, kOwn, 77);
}

__attribute__((destructor)) static void plugin_unload(void) {
  CHECK(own && intact(own, kOwn, 77), "plugin: its own block is missing or corrupted at unload");
  free(own);
}

/* Allocates N blocks of varied sizes and kinds (malloc, calloc, strdup, aligned), filled with
 * seed i; sizes[i] gets each block's size. */
void plugin_make(void **blocks, size_t *sizes, int n, uint64_t seed) {
  uint64_t state = seed | 1;
  for (int i = 0; i < n; i++) {
    size_t size = random_size(&state);
    void *p = NULL;
    switch (i % 4) {
      case 0: p = malloc(size); break;
      case 1: p = calloc(1, size); break;
      case 2: CHECK(posix_memalign(&p, 64, size) == 0, "plugin: posix_memalign failed"); break;
      default: {
        char *text = malloc(size);
        CHECK(text != NULL, "plugin: malloc failed");
        memset(text, 'x', size - 1);
        text[size - 1] = '\0';
        p = strdup(text);
        free(text);
      }
    }
    CHECK(p != NULL, "plugin: allocation of %zu bytes failed", size);
    fill(p, size, seed + (uint64_t)i);
    blocks[i] = p;
    sizes[i] = size;
  }
}

/* Checks and frees blocks the program allocated. */
void plugin_take(void **blocks, const size_t *sizes, int n, uint64_t seed) {
  for (int i = 0; i < n; i++) {
    CHECK(intact(blocks[i], sizes[i], seed + (uint64_t)i), "plugin: block %d from the program corrupted", i);
    free(blocks[i]);
    blocks[i] = NULL;
  }
}
