/* small_churn: one thread, malloc/free of 8-256 byte blocks.
 *
 * Live blocks sit in a ring (a double-ended queue).  New blocks go in at
 * the tail; frees come either from the tail (LIFO, like temporaries) or
 * from the head (FIFO, like queued messages).  The mix shifts between a
 * LIFO-heavy and a FIFO-heavy phase every few thousand operations, and the
 * live count wanders between a low and a high water mark. */
#include "bench_common.h"

#include <string.h>

#define RING 32768u           /* power of two */
#define LOW_WATER 1024u
#define HIGH_WATER 24000u

static size_t pick_size(bench_rng *r)
{
    uint64_t x = bench_next(r) >> 40;
    unsigned bucket = (unsigned)(x % 100);
    if (bucket < 60)
        return (size_t)bench_range(r, 8, 64);
    if (bucket < 90)
        return (size_t)bench_range(r, 65, 128);
    return (size_t)bench_range(r, 129, 256);
}

int main(int argc, char **argv)
{
    double scale = bench_scale(argc, argv);
    uint64_t ops = bench_scaled(60000000ull, scale);
    static void *ring[RING];
    static size_t sizes[RING];
    unsigned head = 0, tail = 0, live = 0;
    bench_rng r;
    uint64_t sum = 0;
    double t0 = bench_now();

    bench_rng_seed(&r, 42);
    for (uint64_t i = 0; i < ops; i++) {
        /* 4096-op phases: even phases mostly LIFO, odd mostly FIFO. */
        unsigned lifo_pct = ((i >> 12) & 1) ? 20 : 85;
        uint64_t x = bench_next(&r);
        int do_alloc;
        if (live < LOW_WATER)
            do_alloc = 1;
        else if (live > HIGH_WATER)
            do_alloc = 0;
        else
            do_alloc = (x & 1) != 0;

        if (do_alloc) {
            size_t n = pick_size(&r);
            unsigned char *p = malloc(n);
            if (!p)
                return 2;
            p[n - 1] = (unsigned char)n;
            memcpy(p, &n, sizeof n);
            ring[tail & (RING - 1)] = p;
            sizes[tail & (RING - 1)] = n;
            tail++;
            live++;
        } else {
            unsigned slot;
            if ((unsigned)((x >> 8) % 100) < lifo_pct)
                slot = --tail;
            else
                slot = head++;
            unsigned char *p = ring[slot & (RING - 1)];
            size_t n = sizes[slot & (RING - 1)], stored;
            memcpy(&stored, p, sizeof stored);
            sum += stored + p[n - 1];
            free(p);
            live--;
        }
    }
    while (live) {
        unsigned slot = head++;
        free(ring[slot & (RING - 1)]);
        live--;
    }
    printf("small_churn ops=%llu checksum=%llu elapsed=%.3f final_rss_kib=%ld\n",
           (unsigned long long)ops, (unsigned long long)sum,
           bench_now() - t0, bench_rss_kib());
    return 0;
}
