/* large: blocks of 64 KiB to 1 MiB allocated and freed repeatedly.
 *
 * A small working set of live blocks (like I/O buffers or decoded images)
 * is replaced one random slot at a time; each new block is written once
 * per page (a buffer that gets filled), and read back before it is freed. */
#include "bench_common.h"

#define LIVE 24
#define MIN_SIZE (64u << 10)
#define MAX_SIZE (1u << 20)

int main(int argc, char **argv)
{
    double scale = bench_scale(argc, argv);
    uint64_t ops = bench_scaled(250000, scale);
    bench_rng r;
    unsigned char *blk[LIVE] = {0};
    size_t len[LIVE] = {0};
    uint64_t sum = 0;
    double t0 = bench_now();

    bench_rng_seed(&r, 5);
    for (uint64_t op = 0; op < ops; op++) {
        unsigned k = (unsigned)(bench_next(&r) % LIVE);
        if (blk[k]) {
            sum += blk[k][0] + blk[k][len[k] - 1];
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
    printf("large ops=%llu checksum=%llu elapsed=%.3f final_rss_kib=%ld\n",
           (unsigned long long)ops, (unsigned long long)sum, bench_now() - t0,
           bench_rss_kib());
    return 0;
}
