/* realloc_growth: buffers grown step by step with realloc up to 1 MiB.
 *
 * A set of buffers grows in turn (round robin), like several string
 * builders or byte vectors filled at once, so a buffer rarely has free
 * space right behind it.  Each step adds a random amount (a few bytes
 * while small, up to a quarter of the current size once large) and writes
 * the new bytes' first and last positions and one byte per page between. */
#include "bench_common.h"

#include <string.h>

#define BUFFERS 48
#define LIMIT (1u << 20)

int main(int argc, char **argv)
{
    double scale = bench_scale(argc, argv);
    uint64_t rounds = bench_scaled(40, scale);
    bench_rng r;
    uint64_t sum = 0, reallocs = 0;
    double t0 = bench_now();

    bench_rng_seed(&r, 11);
    for (uint64_t round = 0; round < rounds; round++) {
        unsigned char *buf[BUFFERS];
        size_t len[BUFFERS];
        unsigned done = 0;
        for (unsigned i = 0; i < BUFFERS; i++) {
            len[i] = 0;
            buf[i] = NULL;
        }
        while (done < BUFFERS) {
            done = 0;
            for (unsigned i = 0; i < BUFFERS; i++) {
                if (len[i] >= LIMIT) {
                    done++;
                    continue;
                }
                size_t step;
                if (len[i] < 256)
                    step = (size_t)bench_range(&r, 1, 32);
                else
                    step = (size_t)bench_range(&r, 16, len[i] / 4);
                size_t n = len[i] + step;
                if (n > LIMIT)
                    n = LIMIT;
                unsigned char *p = realloc(buf[i], n);
                if (!p)
                    return 2;
                for (size_t off = len[i]; off < n; off += 4096)
                    p[off] = (unsigned char)off;
                p[n - 1] = (unsigned char)n;
                if (len[i])
                    sum += p[len[i] - 1];
                buf[i] = p;
                len[i] = n;
                reallocs++;
            }
        }
        for (unsigned i = 0; i < BUFFERS; i++) {
            sum += buf[i][LIMIT - 1];
            free(buf[i]);
        }
    }
    printf("realloc_growth rounds=%llu reallocs=%llu checksum=%llu elapsed=%.3f final_rss_kib=%ld\n",
           (unsigned long long)rounds, (unsigned long long)reallocs,
           (unsigned long long)sum, bench_now() - t0, bench_rss_kib());
    return 0;
}
