/* instructions: a tight loop of malloc+free pairs over sizes 8-256 B (or MIN-MAX).
 *
 * Meant for instruction counting under callgrind: run it with two
 * iteration counts and divide the difference in instructions by the
 * difference in iterations; that cancels start-up and tear-down and leaves
 * the cost of one pair plus the loop around it (size choice included).
 *
 *   instructions ITERATIONS [LIVE [rng|table [MIN MAX]]]
 *
 * LIVE (default 1024) is a window of live blocks: each iteration frees the
 * block allocated LIVE iterations earlier and allocates a new one, so the
 * allocator sees a steady churn rather than one block bouncing in and out.
 * LIVE is rounded down to a power of two; LIVE = 0 frees each block right
 * after allocating it.
 * "rng" (default) draws each size from a xorshift generator; "table" reads
 * it from a 256-entry table (fewer loop instructions). MIN and MAX (default 8
 * and 256) bound the sizes: e.g. 8193 16000 for the blocks just above 8 KiB. */
#include "bench_common.h"

#include <string.h>

#define SIZES 256
#define WINDOW_MAX 65536

int main(int argc, char **argv)
{
    uint64_t iters = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    unsigned live = argc > 2 ? (unsigned)atoi(argv[2]) : 1024;
    int use_table = argc > 3 && strcmp(argv[3], "table") == 0;
    uint64_t lo = argc > 5 ? strtoull(argv[4], NULL, 10) : 8;
    uint64_t hi = argc > 5 ? strtoull(argv[5], NULL, 10) : 256;
    static size_t sizes[SIZES];
    static void *window[WINDOW_MAX];
    bench_rng r;

    if (live > WINDOW_MAX)
        live = WINDOW_MAX;
    while (live & (live - 1))   /* round down to a power of two */
        live &= live - 1;
    if (argc == 5 || lo == 0 || hi < lo) {
        fprintf(stderr, "instructions: give MIN and MAX together, MIN at least 1 and MAX at least MIN\n");
        return 2;
    }
    bench_rng_seed(&r, 1);
    for (unsigned i = 0; i < SIZES; i++)
        sizes[i] = (size_t)bench_range(&r, lo, hi);

    if (live == 0) {
        for (uint64_t i = 0; i < iters; i++) {
            size_t n = use_table ? sizes[i & (SIZES - 1)]
                                 : (size_t)bench_range(&r, lo, hi);
            void *p = malloc(n);
            BENCH_ESCAPE(p);
            free(p);
        }
    } else {
        uint64_t mask = live - 1;
        for (uint64_t i = 0; i < iters; i++) {
            uint64_t k = i & mask;
            size_t n = use_table ? sizes[i & (SIZES - 1)]
                                 : (size_t)bench_range(&r, lo, hi);
            free(window[k]);
            void *p = malloc(n);
            BENCH_ESCAPE(p);
            window[k] = p;
        }
        for (unsigned j = 0; j < live; j++)
            free(window[j]);
    }
    printf("instructions iterations=%llu live=%u sizes=%s %llu-%llu\n",
           (unsigned long long)iters, live, use_table ? "table" : "rng",
           (unsigned long long)lo, (unsigned long long)hi);
    return 0;
}
