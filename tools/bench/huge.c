/* huge: 5-25 MiB blocks allocated, written on every page, and freed.
 *
 * A few blocks are live at a time; each operation frees one random slot
 * and allocates a new block of a new random size there, then writes one
 * byte on each of its pages.  How an allocator caches or returns such
 * blocks to the kernel (and so how many page faults it takes) decides
 * this workload. */
#include "bench_common.h"

#define LIVE 3
#define MIN_SIZE (5u << 20)
#define MAX_SIZE (25u << 20)

int main(int argc, char **argv)
{
    double scale = bench_scale(argc, argv);
    uint64_t ops = bench_scaled(2000, scale);
    bench_rng r;
    unsigned char *blk[LIVE] = {0};
    size_t len[LIVE] = {0};
    uint64_t sum = 0;
    double t0 = bench_now();

    bench_rng_seed(&r, 9);
    for (uint64_t op = 0; op < ops; op++) {
        unsigned k = (unsigned)(bench_next(&r) % LIVE);
        if (blk[k]) {
            sum += blk[k][(len[k] - 1) & ~(size_t)4095] + blk[k][len[k] - 1];
            free(blk[k]);
        }
        size_t n = (size_t)bench_range(&r, MIN_SIZE, MAX_SIZE);
        unsigned char *p = malloc(n);
        if (!p)
            return 2;
        for (size_t off = 0; off < n; off += 4096)
            p[off] = (unsigned char)(off >> 12);
        p[n - 1] = 1;
        blk[k] = p;
        len[k] = n;
    }
    for (unsigned k = 0; k < LIVE; k++)
        free(blk[k]);
    printf("huge ops=%llu checksum=%llu elapsed=%.3f final_rss_kib=%ld\n",
           (unsigned long long)ops, (unsigned long long)sum, bench_now() - t0,
           bench_rss_kib());
    return 0;
}
