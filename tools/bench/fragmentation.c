/* fragmentation: how much memory stays resident after the size mix changes.
 *
 * Phase 0 fills the heap with small (16-128 B) and medium (1-8 KiB) blocks
 * in random order.  Each later phase frees about 90% of the live blocks at
 * random and then allocates a different size mix until the live byte count
 * is back at the target, so the holes left behind suit the new sizes badly.
 * At the end the program prints the live bytes and the resident set size
 * (from /proc/self/statm) while everything is still allocated, then again
 * after freeing it all. */
#include "bench_common.h"

#include <string.h>

struct mix {
    unsigned small_pct;            /* share of allocations that are small */
    size_t small_lo, small_hi;
    size_t med_lo, med_hi;
};

static const struct mix mixes[] = {
    {95, 16, 128, 1024, 8192},
    {90, 160, 480, 12288, 20480},
    {97, 24, 64, 2048, 3072},
    {85, 96, 320, 5000, 16000},
};
#define PHASES (sizeof mixes / sizeof mixes[0])

int main(int argc, char **argv)
{
    double scale = bench_scale(argc, argv);
    size_t target = (size_t)bench_scaled(96ull << 20, scale);   /* live bytes */
    size_t cap = 4u << 20;                                      /* slots */
    void **blk = calloc(cap, sizeof *blk);
    size_t *len = calloc(cap, sizeof *len);
    size_t nblk = 0, live = 0;
    bench_rng r;
    uint64_t sum = 0;
    double t0 = bench_now();

    if (!blk || !len)
        return 2;
    bench_rng_seed(&r, 13);
    for (unsigned ph = 0; ph < PHASES; ph++) {
        const struct mix *m = &mixes[ph];
        if (ph > 0) {
            /* Free ~90% at random, then compact the slot array. */
            size_t kept = 0;
            for (size_t i = 0; i < nblk; i++) {
                if (bench_next(&r) % 10 != 0) {
                    sum += ((unsigned char *)blk[i])[0];
                    free(blk[i]);
                    live -= len[i];
                } else {
                    blk[kept] = blk[i];
                    len[kept] = len[i];
                    kept++;
                }
            }
            nblk = kept;
        }
        while (live < target && nblk < cap) {
            size_t n;
            if (bench_next(&r) % 100 < m->small_pct)
                n = (size_t)bench_range(&r, m->small_lo, m->small_hi);
            else
                n = (size_t)bench_range(&r, m->med_lo, m->med_hi);
            unsigned char *p = malloc(n);
            if (!p)
                return 2;
            memset(p, (int)(n & 0xff), n < 64 ? n : 64);
            p[n - 1] = 1;
            blk[nblk] = p;
            len[nblk] = n;
            nblk++;
            live += n;
        }
    }
    long rss_live = bench_rss_kib();
    for (size_t i = 0; i < nblk; i++) {
        sum += ((unsigned char *)blk[i])[len[i] - 1];
        free(blk[i]);
    }
    long rss_after = bench_rss_kib();
    printf("fragmentation live_kib=%zu blocks=%zu checksum=%llu elapsed=%.3f "
           "final_rss_kib=%ld rss_after_free_kib=%ld\n",
           live / 1024, nblk, (unsigned long long)sum, bench_now() - t0,
           rss_live, rss_after);
    free(blk);
    free(len);
    return 0;
}
