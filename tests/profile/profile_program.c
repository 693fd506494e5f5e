/* A program whose allocations are known exactly, for the heap profile's tests
 * (check_profile.py holds the expected figures of each site).
 *
 *   profile-program phases      the sites below, then exit
 *   profile-program wait        allocate, print "ready", wait for stdin to close, exit
 *   profile-program pressure    grow to 48 MiB in 1 MiB steps (under a limit: the timeline's events)
 *   profile-program sites [MB]  ten sites of different block sizes, each allocating about MB
 *                               megabytes (default 600) in blocks kept in a ring of 64: the
 *                               sampled profile's estimates against the exact figures
 *
 * Each site is its own function, never inlined, so that its frame names it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static void* volatile sink;
static void* kept[4096];
static void* large[50];
static void* peak_blocks[4096];
static void* after[1000];

/* 100000 blocks of 64 B, each freed before the next allocation: all temporary. */
NOINLINE void site_temporary(void) {
  for (int i = 0; i < 100000; ++i) {
    void* p = malloc(64);
    sink = p;
    free(p);
  }
}

/* 2000 blocks of 1000 B, live through the peak. */
NOINLINE void site_kept(void) {
  for (int i = 0; i < 2000; ++i) kept[i] = malloc(1000);
}

/* 50 blocks of 100000 B (large), live through the peak. */
NOINLINE void site_large(void) {
  for (int i = 0; i < 50; ++i) large[i] = malloc(100000);
}

/* 4096 blocks of 4096 B: the peak. */
NOINLINE void site_peak(void) {
  for (int i = 0; i < 4096; ++i) peak_blocks[i] = calloc(1, 4096);
}

/* 1000 blocks of 100 B, still live at exit. */
NOINLINE void site_after(void) {
  for (int i = 0; i < 1000; ++i) after[i] = malloc(100);
}

/* Allocates about `bytes` in blocks of `size`, each freed 64 allocations later. */
static void churn(size_t size, size_t bytes) {
  void* ring[64] = {0};
  for (size_t i = 0, n = bytes / size; i < n; ++i) {
    free(ring[i & 63]);
    ring[i & 63] = malloc(size);
  }
  for (int i = 0; i < 64; ++i) free(ring[i]);
}

#define SITE(n, size) \
  NOINLINE void site_##n##_##size(size_t bytes) { churn(size, bytes); }
SITE(0, 16)
SITE(1, 24)
SITE(2, 40)
SITE(3, 64)
SITE(4, 100)
SITE(5, 200)
SITE(6, 500)
SITE(7, 1000)
SITE(8, 4000)
SITE(9, 20000)

static void free_all(void** blocks, int n) {
  for (int i = 0; i < n; ++i) free(blocks[i]);
}

static void sleep_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "phases";
  if (strcmp(mode, "phases") == 0) {
    site_temporary();
    site_kept();
    site_large();
    sleep_ms(60);
    site_peak();
    sleep_ms(60);
    free_all(peak_blocks, 4096);
    free_all(large, 50);
    free_all(kept, 2000);
    sleep_ms(60);
    site_after();
    return 0;
  }
  if (strcmp(mode, "wait") == 0) {
    site_kept();
    site_after();
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char buffer[16];
    while (read(0, buffer, sizeof buffer) > 0) {
    }
    free_all(kept, 2000);
    return 0;
  }
  if (strcmp(mode, "sites") == 0) {
    const size_t bytes = (size_t)(argc > 2 ? atof(argv[2]) : 600.0) * 1000000;
    site_0_16(bytes);
    site_1_24(bytes);
    site_2_40(bytes);
    site_3_64(bytes);
    site_4_100(bytes);
    site_5_200(bytes);
    site_6_500(bytes);
    site_7_1000(bytes);
    site_8_4000(bytes);
    site_9_20000(bytes);
    return 0;
  }
  if (strcmp(mode, "pressure") == 0) {
    static void* steps[48];
    for (int i = 0; i < 48; ++i) {
      steps[i] = malloc(1 << 20);
      if (steps[i]) memset(steps[i], 1, 1 << 20);
      sleep_ms(10);
    }
    free_all(steps, 48);
    return 0;
  }
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
