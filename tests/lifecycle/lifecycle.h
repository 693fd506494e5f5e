/* Helpers shared by the lifecycle programs: each runs under the preloaded libmemf.so (run.sh),
 * checks what it allocated byte for byte, and exits 0 only when every check held. */
#ifndef LIFECYCLE_H
#define LIFECYCLE_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                 \
      fprintf(stderr, __VA_ARGS__);                                                        \
      fputc('\n', stderr);                                                                 \
      _exit(1);                                                                            \
    }                                                                                      \
  } while (0)

/* The byte at offset i of a block filled with seed: differs between blocks and along a block. */
static inline unsigned char pattern_byte(uint64_t seed, size_t i) {
  return (unsigned char)((seed * 0x9E3779B97F4A7C15ull + i * 131u + (i >> 8)) >> 7);
}

static inline void fill(void *p, size_t n, uint64_t seed) {
  unsigned char *b = (unsigned char *)p;
  for (size_t i = 0; i < n; i++) b[i] = pattern_byte(seed, i);
}

/* Returns 1 when the block still holds what fill() wrote. */
static inline int intact(const void *p, size_t n, uint64_t seed) {
  const unsigned char *b = (const unsigned char *)p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != pattern_byte(seed, i)) return 0;
  return 1;
}

/* A small deterministic generator (xorshift64*). */
static inline uint64_t next_random(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Sizes across memf's paths: pool blocks (up to 16 KiB) mostly, large blocks, now and then huge. */
static inline size_t random_size(uint64_t *state) {
  uint64_t r = next_random(state);
  switch (r % 16) {
    case 0: return 16385 + (r >> 8) % 100000;
    case 1: return (r >> 8) % 64 == 0 ? (2u << 20) + (r >> 16) % 4096 : 16 + (r >> 8) % 16000;
    default: return 1 + (r >> 8) % 512;
  }
}

/* The tests mean nothing without memf: its API must be in the process (preloaded). */
static inline void require_memf(void) {
  CHECK(dlsym(RTLD_DEFAULT, "memf_get_stats") != NULL, "libmemf.so is not loaded (run under LD_PRELOAD)");
}

/* Allocates, fills, checks and frees COUNT blocks through a ring of live ones, with reallocs. */
static inline void churn(uint64_t seed, int count) {
  enum { kRing = 64 };
  void *ring[kRing] = {0};
  size_t sizes[kRing] = {0};
  uint64_t seeds[kRing] = {0};
  uint64_t state = seed | 1;
  for (int i = 0; i < count; i++) {
    int slot = (int)(next_random(&state) % kRing);
    if (ring[slot]) {
      CHECK(intact(ring[slot], sizes[slot], seeds[slot]), "churn: block %p of %zu bytes corrupted", ring[slot], sizes[slot]);
      if (i % 5 == 0) {
        size_t grown = sizes[slot] * 2 + 1;
        unsigned char *q = (unsigned char *)realloc(ring[slot], grown);
        CHECK(q != NULL, "churn: realloc to %zu failed", grown);
        CHECK(intact(q, sizes[slot], seeds[slot]), "churn: realloc lost the contents");
        free(q);
      } else {
        free(ring[slot]);
      }
      ring[slot] = NULL;
    } else {
      sizes[slot] = random_size(&state);
      seeds[slot] = next_random(&state);
      ring[slot] = malloc(sizes[slot]);
      CHECK(ring[slot] != NULL, "churn: malloc(%zu) failed", sizes[slot]);
      fill(ring[slot], sizes[slot], seeds[slot]);
    }
  }
  for (int slot = 0; slot < kRing; slot++) {
    if (!ring[slot]) continue;
    CHECK(intact(ring[slot], sizes[slot], seeds[slot]), "churn: block corrupted at the end");
    free(ring[slot]);
  }
}

/* N blocks of random sizes filled with seeds 0..N-1, held across forks and spawns. */
static inline void hold(void **held, size_t *sizes, int n, uint64_t seed) {
  uint64_t state = seed | 1;
  for (int i = 0; i < n; i++) {
    sizes[i] = random_size(&state);
    held[i] = malloc(sizes[i]);
    CHECK(held[i] != NULL, "malloc(%zu) failed", sizes[i]);
    fill(held[i], sizes[i], (uint64_t)i);
  }
}

/* Checks the blocks hold() made, and frees them when release is set. */
static inline void check_held(void **held, const size_t *sizes, int n, int release) {
  for (int i = 0; i < n; i++) {
    CHECK(intact(held[i], sizes[i], (uint64_t)i), "held block %d corrupted", i);
    if (release) free(held[i]);
  }
}

/* The programs that start themselves again: `PROGRAM child SEED` churns and exits 0. */
static inline void run_if_child(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "child") != 0) return;
  require_memf(); /* the environment carried the preload across exec */
  churn(strtoull(argv[2], NULL, 10), 30000);
  exit(0);
}

/* Waits for PID and fails unless it exited 0. */
#define EXPECT_EXIT0(pid, what)                                                                \
  do {                                                                                       \
    pid_t pid_ = (pid);                                                                      \
    int status_;                                                                             \
    CHECK(waitpid(pid_, &status_, 0) == pid_, "%s: waitpid failed", (what));                 \
    CHECK(WIFEXITED(status_) && WEXITSTATUS(status_) == 0, "%s: ended with status %#x", (what), status_); \
  } while (0)

#endif
